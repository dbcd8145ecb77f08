import { useEffect, useState, type FormEvent } from "react";
import { api, ApiError, type Session } from "../api";

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string>();
  const [oidc, setOidc] = useState<{ label: string } | null>(null);
  useEffect(() => {
    api<{ oidc: { label: string } | null }>("GET", "/ui/config").then((c) => setOidc(c.oidc), () => undefined);
    const failed = new URLSearchParams(location.search).get("error");
    if (failed) setError(failed);
  }, []);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      onSignedIn(await api<Session>("POST", "/ui/session", { token: token.trim() }));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <main className="signin">
      <h1>Sign in to Cutover</h1>
      {oidc && (
        <p>
          <a className="button primary" href="/ui/oidc/login">
            Sign in with {oidc.label}
          </a>
        </p>
      )}
      <form onSubmit={submit}>
        <label htmlFor="token">API token</label>
        <input id="token" name="token" type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} required />
        <p className="hint">Pasted once: the browser keeps a session cookie, never the token itself.</p>
        <button type="submit" className="primary">
          Sign in
        </button>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
