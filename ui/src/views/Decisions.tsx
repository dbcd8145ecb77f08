// The buttons a person presses on a waiting deployment: Approve / Reject a
// manual gate, Promote / Abort a paused one. The API decides; a refusal
// (four eyes, role, scope) is shown as it says it.
import { useState } from "react";
import { api, ApiError, atLeast, type Session } from "../api";
import type { Deployment } from "../types";

export function Decisions({ deployment: d, session }: { deployment: Deployment; session: Session }) {
  const [message, setMessage] = useState<{ text: string; error: boolean }>();
  const [busy, setBusy] = useState(false);
  const waitingGate = Object.entries(d.gateLog ?? {}).find(([, g]) => g.state === "waiting");
  const gate = waitingGate && d.gates?.find((g) => g.name === waitingGate[0].split("@")[0]);
  if (!atLeast(session, "deployer")) return null;
  const act = async (what: string, path: string, body: unknown = {}) => {
    if (what === "Abort" && !window.confirm(`Abort the deployment of ${d.version} to ${d.environment} and roll back?`)) return;
    setBusy(true);
    setMessage(undefined);
    try {
      await api("POST", path, body);
      setMessage({ text: `${what}: done`, error: false });
    } catch (e) {
      setMessage({ text: e instanceof ApiError ? `${e.message} (${e.code})` : String(e), error: true });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="decisions">
      {waitingGate ? (
        <>
          {gate?.requireDistinctApprover && <p className="hint">Four eyes: whoever asked for this deployment cannot approve it.</p>}
          {atLeast(session, "approver") ? (
            <>
              <button type="button" className="primary" disabled={busy} onClick={() => act("Approve", `/v1/deployments/${d.id}/gates/${encodeURIComponent(waitingGate[0])}/approve`)}>
                Approve
              </button>
              <button type="button" className="danger" disabled={busy} onClick={() => act("Reject", `/v1/deployments/${d.id}/gates/${encodeURIComponent(waitingGate[0])}/reject`)}>
                Reject
              </button>
            </>
          ) : (
            <p className="hint">Approving needs the approver role.</p>
          )}
        </>
      ) : d.state === "paused" ? (
        <>
          <button type="button" className="primary" disabled={busy} onClick={() => act("Promote", `/v1/deployments/${d.id}/promote`)}>
            Promote
          </button>
          <button type="button" className="danger" disabled={busy} onClick={() => act("Abort", `/v1/deployments/${d.id}/abort`, { reason: "aborted from the web UI" })}>
            Abort
          </button>
        </>
      ) : null}
      {message && (
        <p className={message.error ? "error" : "ok"} role={message.error ? "alert" : "status"}>
          {message.text}
        </p>
      )}
    </div>
  );
}
