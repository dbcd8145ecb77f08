// Deployment events as Server-Sent Events: the journal so far, then live
// events until the deployment ends. Resumable with Last-Event-ID.
import type { Request, Response } from "express";
import type { DomainEventBus } from "../deployments/deployment-events";
import { isTerminal } from "../deployments/deployment-states";
import type { DeploymentEvent } from "../deployments/model";
import type { DeploymentRepository } from "../deployments/ports";
import { END_EVENTS } from "../deployments/journal-events";

/** Starts a Server-Sent Events answer: its headers sent at once, nothing buffered on the way. */
function openEventStream(res: Response): void {
  res.status(200);
  res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
  res.setHeader("Cache-Control", "no-cache, no-transform");
  res.setHeader("Connection", "keep-alive");
  res.setHeader("X-Accel-Buffering", "no");
  res.flushHeaders();
}

export async function streamEvents(req: Request, res: Response, deploymentId: string, after: number, store: DeploymentRepository, bus: DomainEventBus) {
  openEventStream(res);

  let last = after;
  let ended = false;
  const send = (e: DeploymentEvent) => {
    if (e.id <= last || ended) return;
    last = e.id;
    res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    if (END_EVENTS.has(e.type)) finish();
  };
  const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
  const offLocal = bus.on("deployment:event", (e) => {
    if (e.deploymentId === deploymentId) send(e);
  });
  // Events another replica journaled are read back from the journal, in order, after the last one sent.
  let reading = Promise.resolve();
  const offRemote = bus.on("deployment:journaled_elsewhere", (n) => {
    if (n.deploymentId !== deploymentId) return;
    reading = reading.then(async () => {
      if (ended) return;
      for (const e of await store.events(deploymentId, last).catch(() => [])) send(e);
    });
  });
  const off = () => {
    offLocal();
    offRemote();
  };
  const finish = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    off();
    res.end();
  };
  req.on("close", finish);
  // Subscribe first, then replay, so nothing falls between the two.
  for (const e of await store.events(deploymentId, after)) send(e);
  const d = await store.get(deploymentId);
  if (d && isTerminal(d.state) && !ended) finish();
}

/** A change a live view should read again: which environment, and the deployment when it was one. */
export interface ChangeNotice {
  environment: string;
  kind: "deployment" | "environment" | "operation" | "flag";
  deploymentId?: string;
  type?: string;
}

/**
 * Changes across every environment the caller may see, as Server-Sent
 * Events (`event: change`), so a live view (the web UI) knows what to read
 * again: names and kinds only, never the changed data, which the caller
 * reads through the API and its checks. Changes other replicas journaled
 * are included.
 */
export function streamChanges(
  req: Request,
  res: Response,
  visible: (environment: string) => boolean,
  store: DeploymentRepository,
  bus: DomainEventBus,
  /** Asked at every heartbeat: once the caller's credential is revoked, the stream ends. */
  stillValid: () => Promise<boolean>,
) {
  openEventStream(res);
  res.write("retry: 2000\n\n");
  const send = (n: ChangeNotice) => {
    if (visible(n.environment)) res.write(`event: change\ndata: ${JSON.stringify(n)}\n\n`);
  };
  const environmentOf = new Map<string, string>();
  const offs = [
    bus.on("deployment:event", (e) => send({ environment: e.environment, kind: "deployment", deploymentId: e.deploymentId, type: e.type })),
    bus.on("deployment:journaled_elsewhere", ({ deploymentId }) => {
      const known = environmentOf.get(deploymentId);
      if (known) return send({ environment: known, kind: "deployment", deploymentId });
      void store
        .get(deploymentId)
        .then((d) => {
          if (!d) return;
          if (environmentOf.size > 10_000) environmentOf.clear();
          environmentOf.set(deploymentId, d.environment);
          send({ environment: d.environment, kind: "deployment", deploymentId });
        })
        .catch(() => undefined);
    }),
    bus.on("environment:weights", ({ environment }) => send({ environment, kind: "environment", type: "weights" })),
    bus.on("environment:removed", (e) => send({ environment: e.name, kind: "environment", type: "removed" })),
    bus.on("environment:drifted", ({ environment }) => send({ environment, kind: "environment", type: "drifted" })),
    bus.on("environment:maintenance", ({ environment }) => send({ environment, kind: "environment", type: "maintenance" })),
    bus.on("operation:finished", ({ environment }) => send({ environment, kind: "operation" })),
    bus.on("flag:changed", ({ environment }) => send({ environment, kind: "flag" })),
  ];
  const heartbeat = setInterval(() => {
    void stillValid().then(
      (valid) => (valid ? res.write(": keep-alive\n\n") : res.end()),
      () => res.end(),
    );
  }, 15_000);
  req.on("close", () => {
    clearInterval(heartbeat);
    for (const off of offs) off();
  });
}
