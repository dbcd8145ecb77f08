// Scopes: the environments a token, a release or a webhook reaches, as
// names and prefix patterns (`shop-*`); absent means every environment.

/** Whether two scopes (environment names or `prefix-*` patterns; absent: everything) share an environment. */
export function scopesOverlap(a: string[] | undefined, b: string[] | undefined): boolean {
  if (!a || !b) return true;
  const prefix = (s: string) => (s.endsWith("*") ? s.slice(0, -1) : undefined);
  return a.some((x) =>
    b.some((y) => {
      const px = prefix(x);
      const py = prefix(y);
      if (px !== undefined && py !== undefined) return px.startsWith(py) || py.startsWith(px);
      if (px !== undefined) return y.startsWith(px);
      if (py !== undefined) return x.startsWith(py);
      return x === y;
    }),
  );
}
