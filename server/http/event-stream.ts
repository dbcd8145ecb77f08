// Deployment events as Server-Sent Events: the journal so far, then live
// events until the deployment ends. Resumable with Last-Event-ID.
import type { Request, Response } from "express";
import type { DomainEventBus } from "../deployments/deployment-events";
import { isTerminal } from "../deployments/deployment-states";
import type { DeploymentEvent } from "../deployments/model";
import type { DeploymentRepository } from "../deployments/ports";
import { END_EVENTS } from "../deployments/journal-events";


export async function streamEvents(req: Request, res: Response, deploymentId: string, after: number, store: DeploymentRepository, bus: DomainEventBus) {
  res.status(200);
  res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
  res.setHeader("Cache-Control", "no-cache, no-transform");
  res.setHeader("Connection", "keep-alive");
  res.setHeader("X-Accel-Buffering", "no");
  res.flushHeaders();

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
