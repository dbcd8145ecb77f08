// Feature flags per environment: state, rollout, the kill switch (asked
// to confirm), each flag's history and its ramps with their measurements.
import { useState } from "react";
import { api, ApiError, atLeast, useLive, type Session } from "../api";
import { ActionNote, ErrorNote } from "../notes";
import { ago } from "../format";
import type { Environment, Flag, FlagChange, FlagRamp } from "../types";

export function Flags({ session }: { session: Session }) {
  const envs = useLive(() => api<{ environments: Environment[] }>("GET", "/v1/environments"), [], (c) => c.kind === "environment");
  const [chosen, setChosen] = useState<string>();
  const names = envs.data?.environments.map((e) => e.name) ?? [];
  const environment = chosen ?? names[0];
  return (
    <>
      <ErrorNote error={envs.error} />
      <label className="filter">
        Environment{" "}
        <select value={environment ?? ""} onChange={(e) => setChosen(e.target.value)}>
          {names.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </label>
      {environment && <FlagList environment={environment} session={session} />}
    </>
  );
}

function FlagList({ environment, session }: { environment: string; session: Session }) {
  const [version, setVersion] = useState(0);
  const { data, error } = useLive(() => api<{ flags: Flag[] }>("GET", `/v1/environments/${environment}/flags`), [environment, version], (c) => c.kind === "flag" && c.environment === environment);
  const [open, setOpen] = useState<string>();
  if (!data) return <ErrorNote error={error} />;
  if (data.flags.length === 0) return <p className="empty">No flags in {environment}.</p>;
  return (
    <table>
      <caption className="sr-only">Flags of {environment}</caption>
      <thead>
        <tr>
          <th scope="col">Flag</th>
          <th scope="col">State</th>
          <th scope="col">Serves</th>
          <th scope="col">Changed</th>
          <th scope="col">
            <span className="sr-only">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {data.flags.map((f) => (
          <FlagRow key={f.key} flag={f} session={session} open={open === f.key} toggle={() => setOpen(open === f.key ? undefined : f.key)} changed={() => setVersion((v) => v + 1)} />
        ))}
      </tbody>
    </table>
  );
}

function FlagRow({ flag: f, session, open, toggle, changed }: { flag: Flag; session: Session; open: boolean; toggle: () => void; changed: () => void }) {
  const [message, setMessage] = useState<{ text: string; error: boolean }>();
  const flip = async () => {
    const killing = f.enabled;
    if (killing && !window.confirm(`Switch ${f.key} off in ${f.environment}? Every evaluation answers its default variant (${f.defaultVariant}) from the next request on.`)) return;
    try {
      await api("POST", `/v1/environments/${f.environment}/flags/${f.key}/${killing ? "disable" : "enable"}`, { reason: killing ? "kill switch in the web UI" : "switched on in the web UI" });
      setMessage({ text: killing ? "switched off" : "switched on", error: false });
      changed();
    } catch (e) {
      setMessage({ text: e instanceof ApiError ? `${e.message} (${e.code})` : String(e), error: true });
    }
  };
  return (
    <>
      <tr data-testid={`flag-${f.key}`}>
        <th scope="row">
          {f.key}
          {f.description && <div className="hint">{f.description}</div>}
        </th>
        <td>
          <span className={f.enabled ? "badge ok" : "badge warn"} data-testid="flag-state">
            {f.enabled ? "on" : "off"}
          </span>
        </td>
        <td>
          {f.enabled && f.rollout ? `${f.rollout.variant} to ${f.rollout.percentage}% (by ${f.rollout.stickiness}), else ${f.defaultVariant}` : f.defaultVariant}
        </td>
        <td>
          v{f.version} · {f.updatedBy.person ?? f.updatedBy.name} · {ago(f.updatedAt)}
        </td>
        <td className="actions">
          <button type="button" className="quiet" aria-expanded={open} onClick={toggle}>
            History
          </button>
          {atLeast(session, "deployer") && (
            <button type="button" className={f.enabled ? "danger" : "primary"} onClick={flip}>
              {f.enabled ? "Kill switch" : "Switch on"}
            </button>
          )}
          <ActionNote note={message} />
        </td>
      </tr>
      {open && (
        <tr>
          <td colSpan={5}>
            <FlagDetail flag={f} />
          </td>
        </tr>
      )}
    </>
  );
}

function FlagDetail({ flag: f }: { flag: Flag }) {
  const history = useLive(() => api<{ changes: FlagChange[] }>("GET", `/v1/environments/${f.environment}/flags/${f.key}/history?limit=20`), [f.environment, f.key, f.version]);
  const ramps = useLive(() => api<{ ramps: FlagRamp[] }>("GET", `/v1/environments/${f.environment}/flags/${f.key}/ramps`), [f.environment, f.key, f.version]);
  return (
    <div className="detail">
      <h3>History</h3>
      <ol className="plain">
        {history.data?.changes.map((c) => (
          <li key={c.id}>
            v{c.version} {c.action} by {c.actor.person ?? c.actor.name}, {ago(c.at)}
            {c.changed.length ? ` (${c.changed.join(", ")})` : ""}
            {c.reason ? `: ${c.reason}` : ""}
          </li>
        ))}
      </ol>
      {ramps.data && ramps.data.ramps.length > 0 && (
        <>
          <h3>Ramps</h3>
          <ul className="plain">
            {ramps.data.ramps.map((r) => (
              <li key={r.id}>
                {r.state}: step {r.step + 1} of {r.steps.length} ({r.steps.map((s) => `${s.percentage}%`).join(" → ")})
                {Object.entries(r.counts).map(([metric, outcomes]) => ` · ${metric}: ${Object.entries(outcomes).map(([o, n]) => `${n} ${o}`).join(", ")}`)}
                {r.reason ? ` · ${r.reason}` : ""}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
