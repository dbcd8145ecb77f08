// What waits on a person, first: manual gates and approvals, paused
// canaries, and anything queued or waiting longer than expected.
import { api, atLeast, limits, useLive, type Session } from "../api";
import { ErrorNote } from "../notes";
import { ago } from "../format";
import { linkProps } from "../router";
import type { Deployment } from "../types";
import { Decisions } from "./Decisions";


export interface Waiter {
  deployment: Deployment;
  why: string;
  since: string;
}

export function waitersOf(deployments: Deployment[]): Waiter[] {
  const out: Waiter[] = [];
  for (const d of deployments) {
    const waitingGate = Object.entries(d.gateLog ?? {}).find(([, g]) => g.state === "waiting");
    if (d.state === "paused" && waitingGate) out.push({ deployment: d, why: `approval at gate ${waitingGate[0]}`, since: waitingGate[1].at });
    else if (d.state === "paused") out.push({ deployment: d, why: d.pausedBy === "analysis" ? "analysis inconclusive: promote or abort" : `paused (${d.pausedBy ?? "manual"}): promote or abort`, since: d.updatedAt });
    else if (d.state === "queued" && Date.now() - Date.parse(d.createdAt) > limits.longWaitMs) out.push({ deployment: d, why: "queued", since: d.createdAt });
  }
  return out.sort((a, b) => Date.parse(a.since) - Date.parse(b.since));
}

export function Waiting({ session }: { session: Session }) {
  const { data, error } = useLive(
    async () => {
      const [paused, queued, running] = await Promise.all(
        (["paused", "queued", "running"] as const).map((state) => api<{ deployments: Deployment[] }>("GET", `/v1/deployments?state=${state}&limit=200`)),
      );
      return { waiters: waitersOf([...paused.deployments, ...queued.deployments]), running: running.deployments };
    },
    [],
    (c) => c.kind === "deployment",
  );
  return (
    <>
      <ErrorNote error={error} />
      {data && data.waiters.length === 0 && <p className="empty">Nothing waits on a person.</p>}
      <ul className="cards" aria-label="Waiting on a person">
        {data?.waiters.map((w) => {
          const long = Date.now() - Date.parse(w.since) > limits.longWaitMs;
          return (
            <li key={w.deployment.id} className={long ? "card long" : "card"} data-testid={`waiting-${w.deployment.id}`}>
              <h2>
                <a {...linkProps(`/deployments/${w.deployment.id}`)}>
                  {w.deployment.environment} → {w.deployment.version}
                </a>
              </h2>
              <p>
                {w.why} · since {ago(w.since)}
                {long && <strong className="badge warn"> waiting long</strong>}
              </p>
              {w.deployment.requestedBy && <p className="hint">asked by {w.deployment.requestedBy.person ?? w.deployment.requestedBy.name}</p>}
              {atLeast(session, "deployer") && <Decisions deployment={w.deployment} session={session} />}
            </li>
          );
        })}
      </ul>
      {data && data.running.length > 0 && (
        <>
          <h2>Running</h2>
          <ul className="plain">
            {data.running.map((d) => (
              <li key={d.id}>
                <a {...linkProps(`/deployments/${d.id}`)}>
                  {d.environment} → {d.version}
                </a>{" "}
                {d.phase}
                {d.engineWait ? ` · waiting for the engine (position ${d.engineWait.position})` : ""}
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}
