// Fencing tokens for the work of one environment. A worker does an
// environment's work inside runFenced with the token of its lease; the
// journal's adapters check that token in the same transaction as every
// write, so a replica that lost its lease (paused, partitioned, slow)
// cannot write anything, even if it wakes up late. Work started by an API
// call (queueing a deployment, a request to stop one) runs unfenced.
import { AsyncLocalStorage } from "node:async_hooks";

export interface Fence {
  environment: string;
  token: number;
}

const storage = new AsyncLocalStorage<Fence>();

export function runFenced<T>(fence: Fence, work: () => Promise<T>): Promise<T> {
  return storage.run(fence, work);
}

export function currentFence(): Fence | undefined {
  return storage.getStore();
}

export class FencedOffError extends Error {
  readonly code = "fenced_off";
  constructor(readonly fence: Fence) {
    super(`the lease on environment ${fence.environment} (token ${fence.token}) is no longer held by this replica: the write was refused`);
    this.name = "FencedOffError";
  }
}
