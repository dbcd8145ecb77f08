// Schedules of every environment the caller can see: what each does,
// when it runs next, and how its last runs went.
import { api, useLive, type Session } from "../api";
import { ErrorNote } from "../notes";
import { ago } from "../format";
import { linkProps } from "../router";
import type { Environment, Schedule, ScheduleRun } from "../types";

export function Schedules(_: { session: Session }) {
  const { data, error } = useLive(async () => {
    const envs = (await api<{ environments: Environment[] }>("GET", "/v1/environments")).environments;
    const lists = await Promise.all(envs.map((e) => api<{ schedules: Schedule[] }>("GET", `/v1/environments/${e.name}/schedules`)));
    const schedules = lists.flatMap((l) => l.schedules);
    const runs = await Promise.all(schedules.map((s) => api<{ runs: ScheduleRun[] }>("GET", `/v1/schedules/${s.id}/runs?limit=5`)));
    return schedules.map((s, i) => ({ schedule: s, runs: runs[i].runs }));
  }, [], (c) => c.kind === "operation" || c.kind === "deployment");
  if (!data) return <ErrorNote error={error} />;
  if (data.length === 0) return <p className="empty">No schedules.</p>;
  return (
    <table>
      <caption className="sr-only">Schedules</caption>
      <thead>
        <tr>
          <th scope="col">Environment</th>
          <th scope="col">Does</th>
          <th scope="col">When</th>
          <th scope="col">Next run</th>
          <th scope="col">Last runs</th>
        </tr>
      </thead>
      <tbody>
        {data.map(({ schedule: s, runs }) => (
          <tr key={s.id} data-testid={`schedule-${s.id}`}>
            <th scope="row">{s.environment}</th>
            <td>{s.kind}</td>
            <td>
              <code>{s.cron}</code> {s.timezone}
              {s.paused && <span className="badge warn"> paused</span>}
            </td>
            <td>{s.paused ? "—" : s.nextRunAt ? new Date(s.nextRunAt).toLocaleString() : "none"}</td>
            <td>
              <ul className="plain">
                {runs.map((r) => (
                  <li key={r.id}>
                    {r.operationId?.startsWith("dep_") ? <a {...linkProps(`/deployments/${r.operationId}`)}>{r.state}</a> : r.state} · {ago(r.scheduledAt)}
                    {r.error ? ` · ${r.error.message}` : ""}
                  </li>
                ))}
                {runs.length === 0 && <li className="hint">not run yet</li>}
              </ul>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
