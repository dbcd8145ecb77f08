// Every environment the caller can see: status, live version, traffic per
// color, drift, maintenance, and what is running or queued there; filtered
// by name. A deployer turns maintenance on (asked to confirm) and off.
import { useEffect, useState } from "react";
import { api, ApiError, atLeast, useLive, type Session } from "../api";
import { ActionNote, ErrorNote } from "../notes";
import { ago, weightsText } from "../format";
import { linkProps } from "../router";
import type { Deployment, Environment } from "../types";

export function Environments({ session }: { session: Session }) {
  const [filter, setFilter] = useState("");
  const { data, error } = useLive(async () => {
    const [envs, active] = await Promise.all([
      api<{ environments: Environment[] }>("GET", "/v1/environments"),
      Promise.all((["running", "paused", "queued"] as const).map((s) => api<{ deployments: Deployment[] }>("GET", `/v1/deployments?state=${s}&limit=200`))),
    ]);
    const byEnv = new Map<string, Deployment[]>();
    for (const d of active.flatMap((a) => a.deployments)) byEnv.set(d.environment, [...(byEnv.get(d.environment) ?? []), d]);
    return { environments: envs.environments, byEnv };
  }, []);
  const shown = data?.environments.filter((e) => e.name.includes(filter.trim()));
  return (
    <>
      <ErrorNote error={error} />
      <label className="filter">
        Filter <input type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="environment name" />
      </label>
      <table>
        <caption className="sr-only">Environments</caption>
        <thead>
          <tr>
            <th scope="col">Environment</th>
            <th scope="col">Status</th>
            <th scope="col">Live version</th>
            <th scope="col">Traffic</th>
            <th scope="col">Now</th>
          </tr>
        </thead>
        <tbody>
          {shown?.map((e) => (
            <tr key={e.name} data-testid={`env-${e.name}`}>
              <th scope="row">{e.name}</th>
              <td>
                {e.status}
                {e.drift && <span className="badge warn" title={e.drift.items.map((i) => i.message).join("; ")}> drift</span>}
                <Maintenance environment={e} session={session} />
              </td>
              <td>{e.liveVersion ?? "—"}</td>
              <td>
                <Weights weights={e.weights} active={e.activeColor} />
              </td>
              <td>
                {(data?.byEnv.get(e.name) ?? []).map((d) => (
                  <div key={d.id}>
                    <a {...linkProps(`/deployments/${d.id}`)}>
                      {d.version} {d.state === "queued" ? `queued${d.queuePosition !== undefined ? ` (#${d.queuePosition + 1})` : ""}` : `${d.state}, ${d.phase}`}
                    </a>
                  </div>
                ))}
                {!data?.byEnv.get(e.name) && <span className="hint">idle · {ago(e.updatedAt)}</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown?.length === 0 && <p className="empty">No environment to show.</p>}
    </>
  );
}

/**
 * Maintenance of an environment whose balancer Cutover runs: a badge while
 * on, and for a deployer the switch. Turning it on puts the page in front
 * of every user, so it asks first; turning it off lets them in again.
 */
function Maintenance({ environment: e, session }: { environment: Environment; session: Session }) {
  const [message, setMessage] = useState<{ text: string; error: boolean }>();
  const on = e.maintenance;
  // A request's note lasts until the change it asked for is seen.
  useEffect(() => setMessage(undefined), [Boolean(on)]);
  const change = async () => {
    if (!on && !window.confirm(`Put ${e.name} in maintenance? Every request gets a 503 page (Retry-After: 300) until maintenance is turned off.`)) return;
    try {
      await api(on ? "DELETE" : "POST", `/v1/environments/${e.name}/maintenance`, on ? undefined : { retryAfter: "5m" });
      setMessage({ text: on ? "ending maintenance…" : "starting maintenance…", error: false });
    } catch (err) {
      setMessage({ text: err instanceof ApiError ? `${err.message} (${err.code})` : String(err), error: true });
    }
  };
  return (
    <>
      {on && (
        <span className="badge warn" data-testid="maintenance" title={`since ${on.since}${on.by?.person || on.by?.name ? ` by ${on.by.person ?? on.by.name}` : ""}`}>
          {" "}
          maintenance ({on.mode})
        </span>
      )}
      {e.spec.target === "local" && atLeast(session, "deployer") && (
        <div>
          <button type="button" className={on ? "primary" : "danger"} onClick={change}>
            {on ? "End maintenance" : "Maintenance on"}
          </button>
          <ActionNote note={message} />
        </div>
      )}
    </>
  );
}

export function Weights({ weights, active }: { weights: Record<string, number>; active?: string }) {
  return (
    <span className="weights" aria-label={`traffic: ${weightsText(weights)}`}>
      {Object.entries(weights).map(([color, w]) => (
        <span key={color} className={`weight ${color}${color === active ? " active" : ""}`} data-color={color} data-weight={w}>
          {color} {w}%
        </span>
      ))}
    </span>
  );
}
