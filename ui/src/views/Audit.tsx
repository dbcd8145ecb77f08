// The audit log (admins): who did what, where, when; filtered by
// environment, caller kind and action, a page at a time.
import { useState } from "react";
import { api, useLive, type Session } from "../api";
import { ErrorNote } from "../notes";
import type { AuditEntry } from "../types";

export function Audit(_: { session: Session }) {
  const [environment, setEnvironment] = useState("");
  const [actor, setActor] = useState("");
  const [action, setAction] = useState("");
  const [before, setBefore] = useState<number[]>([]);
  const query = new URLSearchParams({
    ...(environment.trim() ? { environment: environment.trim() } : {}),
    ...(actor ? { actor } : {}),
    ...(action.trim() ? { action: action.trim() } : {}),
    ...(before.length ? { before: String(before[before.length - 1]) } : {}),
  }).toString();
  const { data, error } = useLive(() => api<{ entries: AuditEntry[] }>("GET", `/v1/audit${query ? `?${query}` : ""}`), [query]);
  const reset = () => setBefore([]);
  return (
    <>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter the audit log">
        <label>
          Environment <input value={environment} onChange={(e) => (setEnvironment(e.target.value), reset())} />
        </label>
        <label>
          Caller{" "}
          <select value={actor} onChange={(e) => (setActor(e.target.value), reset())}>
            <option value="">any</option>
            <option value="token">token</option>
            <option value="chat">chat</option>
            <option value="schedule">schedule</option>
            <option value="system">system</option>
          </select>
        </label>
        <label>
          Action <input value={action} placeholder="deployment.create" onChange={(e) => (setAction(e.target.value), reset())} />
        </label>
      </form>
      <ErrorNote error={error} />
      <table>
        <caption className="sr-only">Audit log</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">Did</th>
            <th scope="col">Where</th>
            <th scope="col">What</th>
          </tr>
        </thead>
        <tbody>
          {data?.entries.map((e) => (
            <tr key={e.id}>
              <td>{new Date(e.at).toLocaleString()}</td>
              <td>
                {e.actor.person ?? e.actor.name} <span className="hint">({e.actor.kind})</span>
              </td>
              <td>{e.action}</td>
              <td>{e.environment ?? "—"}</td>
              <td>{e.subject ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        {before.length > 0 && (
          <button type="button" className="quiet" onClick={() => setBefore(before.slice(0, -1))}>
            Newer
          </button>
        )}{" "}
        {data && data.entries.length > 0 && (
          <button type="button" className="quiet" onClick={() => setBefore([...before, data.entries[data.entries.length - 1].id])}>
            Older
          </button>
        )}
      </p>
    </>
  );
}
