// Talks to Cutover's API as the signed-in browser: the session cookie goes
// with every call (same origin), and calls that change anything carry the
// session's CSRF token. Errors keep the API's stable code and message.
import { useEffect, useRef, useState } from "react";

export type Role = "viewer" | "deployer" | "approver" | "admin" | "metrics" | "flags-reader";

export interface Session {
  principal: { name: string; role: Role; environments?: string[]; person?: string };
  via: "token" | "oidc";
  csrf: string;
  expires: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

let csrf = "";
/** How long a wait may last before it is called long (the server's setting). */
export const limits = { longWaitMs: 15 * 60_000 };
export const setCsrf = (token: string) => {
  csrf = token;
};

export async function api<T>(method: "GET" | "POST" | "PUT" | "DELETE", path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (method !== "GET") headers["x-cutover-csrf"] = csrf;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const json = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined)?.error;
    throw new ApiError(res.status, e?.code ?? "http_error", e?.message ?? `${res.status} ${res.statusText}`, e?.details);
  }
  return json as T;
}

/** Reads `load` now and again whenever a change the caller can see arrives (debounced), or every `everyMs` as a floor. */
export function useLive<T>(load: () => Promise<T>, deps: unknown[], relevant: (c: Change) => boolean = () => true, everyMs = 15_000) {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const loadRef = useRef(load);
  loadRef.current = load;
  const relevantRef = useRef(relevant);
  relevantRef.current = relevant;
  useEffect(() => {
    let alive = true;
    let timer: number | undefined;
    const read = () => {
      loadRef.current().then(
        (d) => {
          if (!alive) return;
          setData(d);
          setError(undefined);
        },
        (e: unknown) => alive && setError(e instanceof ApiError ? e : new ApiError(0, "network", String(e))),
      );
    };
    const soon = () => {
      if (timer === undefined) timer = window.setTimeout(() => ((timer = undefined), read()), 150);
    };
    read();
    const off = onChange((c) => relevantRef.current(c) && soon());
    const floor = window.setInterval(read, everyMs);
    return () => {
      alive = false;
      off();
      window.clearInterval(floor);
      if (timer !== undefined) window.clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return { data, error };
}

export interface Change {
  environment: string;
  kind: "deployment" | "environment" | "operation" | "flag";
  deploymentId?: string;
  type?: string;
}

// One stream of changes for the whole page, shared by every live view.
const listeners = new Set<(c: Change) => void>();
let source: EventSource | undefined;
export const connection = { live: false, onState: new Set<(live: boolean) => void>() };

function setLive(live: boolean) {
  connection.live = live;
  for (const f of connection.onState) f(live);
}

export function openChanges(): void {
  if (source) return;
  source = new EventSource("/v1/changes");
  source.onopen = () => setLive(true);
  source.onerror = () => setLive(false);
  source.addEventListener("change", (ev) => {
    const c = JSON.parse((ev as MessageEvent<string>).data) as Change;
    for (const f of listeners) f(c);
  });
}

export function closeChanges(): void {
  source?.close();
  source = undefined;
  setLive(false);
}

export function onChange(f: (c: Change) => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

const RANK: Record<Role, number> = { metrics: -1, "flags-reader": -1, viewer: 0, deployer: 1, approver: 2, admin: 3 };
/** Whether the signed-in role reaches `role` (the API checks again; this only hides what would be refused). */
export const atLeast = (s: Session, role: Role) => RANK[s.principal.role] >= RANK[role];
