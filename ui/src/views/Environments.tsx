// Every environment the caller can see: status, live version, traffic per
// color, drift, and what is running or queued there; filtered by name.
import { useState } from "react";
import { api, useLive, type Session } from "../api";
import { ErrorNote } from "../App";
import { ago, weightsText } from "../format";
import { linkProps } from "../router";
import type { Deployment, Environment } from "../types";

export function Environments(_: { session: Session }) {
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
