// Views are paths under /ui (the server answers each with the one page).
import { useEffect, useState } from "react";

const BASE = "/ui";

export function usePath(): string {
  const [path, setPath] = useState(() => location.pathname.slice(BASE.length) || "/");
  useEffect(() => {
    const update = () => setPath(location.pathname.slice(BASE.length) || "/");
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return path;
}

export function navigate(to: string): void {
  history.pushState(null, "", `${BASE}${to}`);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

/** A link within the UI: a real href (open in a new tab works), navigated in place. */
export function linkProps(to: string) {
  return {
    href: `${BASE}${to}`,
    onClick: (e: React.MouseEvent) => {
      if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      navigate(to);
    },
  };
}
