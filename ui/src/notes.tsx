import type { ApiError } from "./api";

/** What came of an action, beside its button: said politely, or as an alert when it failed. */
export function ActionNote({ note }: { note?: { text: string; error: boolean } }) {
  if (!note) return null;
  return (
    <span className={note.error ? "error" : "ok"} role={note.error ? "alert" : "status"}>
      {" "}
      {note.text}
    </span>
  );
}

export function ErrorNote({ error }: { error?: ApiError }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error.message} <code>{error.code}</code>
    </p>
  );
}
