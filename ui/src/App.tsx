import { useEffect, useState } from "react";
import { api, atLeast, closeChanges, connection, limits, openChanges, setCsrf, type Session } from "./api";
import { linkProps, usePath } from "./router";
import { SignIn } from "./views/SignIn";
import { Waiting } from "./views/Waiting";
import { Environments } from "./views/Environments";
import { DeploymentView } from "./views/Deployment";
import { Flags } from "./views/Flags";
import { Schedules } from "./views/Schedules";
import { Audit } from "./views/Audit";

export function App() {
  const [session, setSession] = useState<Session | null>();
  const path = usePath();

  useEffect(() => {
    api<{ longWaitMs: number }>("GET", "/ui/config").then((c) => (limits.longWaitMs = c.longWaitMs), () => undefined);
    api<Session>("GET", "/ui/session").then(
      (s) => signedIn(s),
      () => setSession(null),
    );
  }, []);

  const signedIn = (s: Session) => {
    setCsrf(s.csrf);
    setSession(s);
    openChanges();
  };
  const signOut = async () => {
    await api("DELETE", "/ui/session").catch(() => undefined);
    closeChanges();
    setSession(null);
  };

  if (session === undefined) return <p className="loading">Loading…</p>;
  if (session === null) return <SignIn onSignedIn={signedIn} />;

  const deployment = /^\/deployments\/([A-Za-z0-9_-]+)$/.exec(path);
  let view;
  let title: string;
  if (deployment) {
    view = <DeploymentView id={deployment[1]} session={session} />;
    title = "Deployment";
  } else if (path === "/schedules") {
    view = <Schedules session={session} />;
    title = "Schedules";
  } else if (path === "/audit" && atLeast(session, "admin")) {
    view = <Audit session={session} />;
    title = "Audit log";
  } else if (path === "/flags") {
    view = <Flags session={session} />;
    title = "Feature flags";
  } else if (path === "/environments") {
    view = <Environments session={session} />;
    title = "Environments";
  } else {
    view = <Waiting session={session} />;
    title = "Waiting on a person";
  }
  return (
    <>
      <header className="top">
        <a className="brand" {...linkProps("/")}>
          Cutover
        </a>
        <nav aria-label="Views">
          <a {...linkProps("/")} aria-current={path === "/" ? "page" : undefined}>
            Waiting
          </a>
          <a {...linkProps("/environments")} aria-current={path === "/environments" ? "page" : undefined}>
            Environments
          </a>
          <a {...linkProps("/flags")} aria-current={path === "/flags" ? "page" : undefined}>
            Flags
          </a>
          <a {...linkProps("/schedules")} aria-current={path === "/schedules" ? "page" : undefined}>
            Schedules
          </a>
          {atLeast(session, "admin") && (
            <a {...linkProps("/audit")} aria-current={path === "/audit" ? "page" : undefined}>
              Audit
            </a>
          )}
        </nav>
        <LiveBadge />
        <span className="who" aria-label="Signed in as">
          {session.principal.name} · {session.principal.role}
          {session.principal.environments ? ` · ${session.principal.environments.join(", ")}` : ""}
        </span>
        <button type="button" className="quiet" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        <h1>{title}</h1>
        {view}
      </main>
    </>
  );
}

function LiveBadge() {
  const [live, setLive] = useState(connection.live);
  useEffect(() => {
    connection.onState.add(setLive);
    // The stream may have opened between the first render and this subscription.
    setLive(connection.live);
    return () => void connection.onState.delete(setLive);
  }, []);
  return (
    <span className={live ? "badge ok" : "badge warn"} role="status" data-testid="live">
      {live ? "live" : "reconnecting"}
    </span>
  );
}
