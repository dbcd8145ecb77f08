// What the engine does around an Automation API stack operation: its
// events reduced to progress, a refresh's changes from its own summary, a
// program's outputs kept as the update resolves them, and no read-back
// CLI runs after an operation; the Postgres backend's settings, and which
// failures are a lost connection to the engine.
import type { EngineEvent, OutputMap, PulumiFn, Stack, StepEventMetadata, UpdateSummary } from "@pulumi/pulumi/automation";
import type { OperationOptions, RefreshChanges, ResourceChange, StackOutputs } from "../deployments/stack-engine";
import { engineEventSummary } from "./engine-event-summary";
import { pendingCreateId, type PendingResource } from "../../infra/pending-creates";

/**
 * Pulumi's Postgres backend lists state with a query open while it runs
 * another per row, from a pool of 2 × GOMAXPROCS connections, and lists
 * stacks 10 at a time: with enough stacks every connection waits for
 * another and `stack ls` hangs. Fewer parallel listings and a larger pool
 * keep it below that.
 */
export const POSTGRES_BACKEND_ENV = { PULUMI_DIY_BACKEND_PARALLEL: "2", GOMAXPROCS: "4" };

/** An inline program's RPC to the engine failed as unavailable (gRPC code 14) or found it shutting down. */
export function isLostEngineConnection(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /\b14 UNAVAILABLE\b|Resource monitor is terminating|Channel has been shut down/.test(message);
}

/**
 * A stack listing run again when it raced a stack's removal: Pulumi's
 * Postgres backend lists the stacks and then reads each, and one removed
 * in between fails the whole listing ("blob (code=NotFound)").
 */
export async function listedDespiteRemovals<T>(list: () => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await list();
    } catch (err) {
      if (attempt >= attempts || !/list bucket: blob \(code=NotFound\)/.test(String(err))) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/** Pulumi's engine events, reduced to the progress the caller keeps. */
export function progress(opts: OperationOptions): ((e: EngineEvent) => void) | undefined {
  const onEvent = opts.onEvent;
  if (!onEvent) return undefined;
  return (e) => {
    const summary = engineEventSummary(e);
    if (summary) onEvent(summary);
  };
}

export async function refreshed(stack: Stack, opts: OperationOptions = {}): Promise<RefreshChanges> {
  // The changes come from the refresh's own summary event, not from a `stack history` run after it.
  let summary: UpdateSummary["resourceChanges"] | undefined;
  const report = progress(opts);
  const original = stack.info.bind(stack);
  stack.info = async (showSecrets?: boolean) => (summary ? undefined : original(showSecrets));
  const result = await stack.refresh({
    onEvent: (e) => {
      if (e.summaryEvent) summary = e.summaryEvent.resourceChanges;
      report?.(e);
    },
    signal: opts.signal,
    onOutput: () => undefined,
  });
  const changes = summary ?? result.summary?.resourceChanges ?? {};
  return Object.fromEntries(Object.entries(changes).filter(([op, n]) => op !== "same" && (n ?? 0) > 0)) as RefreshChanges;
}

/** The steps a preview plans, from its engine events: every resource it would touch, the stack and providers left out. */
export async function previewed(stack: Stack, opts: OperationOptions = {}): Promise<ResourceChange[]> {
  const changes: ResourceChange[] = [];
  const report = progress(opts);
  await stack.preview({
    onEvent: (e) => {
      const step = e.resourcePreEvent?.metadata;
      if (step) {
        const change = changeOf(step);
        if (change) changes.push(change);
      }
      report?.(e);
    },
    signal: opts.signal,
    onOutput: () => undefined,
  });
  return changes;
}

/** A planned step as a change people read: names of what differs, never values. */
export function changeOf(step: StepEventMetadata): ResourceChange | undefined {
  if (step.op === "same" || step.type === "pulumi:pulumi:Stack" || step.type.startsWith("pulumi:providers:")) return undefined;
  // A replacement is planned as three steps (create the new, replace, delete the old): people read it as one `replace`.
  if (step.op === "create-replacement" || step.op === "delete-replaced" || step.op === "discard-replaced") return undefined;
  let changed = [...new Set([...(step.diffs ?? []), ...Object.keys(step.detailedDiff ?? {})])].sort();
  // A provider that says only that something differs: the inputs that differ, compared as the engine shows them (secrets masked).
  if (!changed.length && step.old && step.new) changed = differingKeys(step.old.inputs ?? {}, step.new.inputs ?? {});
  const replaces = step.op === "replace" ? (step.keys ?? []) : [];
  return {
    op: step.op,
    type: step.type,
    name: step.urn.split("::").pop() ?? step.urn,
    ...(changed.length && step.op !== "create" && step.op !== "delete" ? { changed } : {}),
    ...(replaces.length ? { replaces } : {}),
  };
}

function differingKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort();
}

/**
 * A program that keeps the values of the outputs it returns, as the
 * update resolves them: the outputs an update reports come from the update
 * itself rather than from two `stack output` runs after it.
 */
export function capturingOutputs(program: PulumiFn): { program: PulumiFn; outputs: () => OutputMap | undefined } {
  let resolved: OutputMap | undefined;
  const wrapped: PulumiFn = async () => {
    const result = await program();
    const { output, recover } = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    // `recover` marks a failed output as handled: the update reports the failure itself.
    recover(output((result ?? {}) as Record<string, unknown>), () => undefined).apply((values) => {
      if (values) resolved = Object.fromEntries(Object.entries(values).map(([k, value]) => [k, { value, secret: false }]));
    });
    return result;
  };
  return { program: wrapped, outputs: () => resolved };
}

/**
 * After an operation the SDK reads the stack back with CLI runs of its own:
 * `stack history` for a summary (Cutover's callers take what they need from
 * the operation's events), and for an update `stack output` twice (taken
 * from the program when it resolved them). Each is a CLI start that loads
 * the whole state; they are left out, and the outputs are read back only if
 * the program did not resolve them.
 */
export function withoutReadBack(stack: Stack, outputs?: () => OutputMap | undefined): Stack {
  stack.info = async () => undefined;
  const readBack = stack.outputs.bind(stack);
  stack.outputs = async () => outputs?.() ?? readBack();
  return stack;
}

export function unwrap(outputs: OutputMap): StackOutputs {
  return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value]));
}

/**
 * Resolves what an interrupted operation left pending on a stack. A create
 * whose resource's ID follows from its inputs (pending-creates.ts) is
 * adopted, as Pulumi imports a pending create: the resource is written into
 * the state under that ID and a refresh reads it from the target, which
 * drops it if it was never made. The object it made is then the stack's, so
 * destroying the stack removes it. Every other pending operation is cleared.
 */
export async function resolvePending(stack: Stack): Promise<{ pendingCleared: number; imported: string[] }> {
  const state = await stack.exportStack();
  const pending = (state.deployment?.pending_operations ?? []) as { type: string; resource: PendingResource & Record<string, unknown> }[];
  if (pending.length === 0) return { pendingCleared: 0, imported: [] };
  delete state.deployment.pending_operations;
  const adopted = pending.flatMap(({ type, resource }) => {
    const id = type === "creating" ? pendingCreateId(resource) : undefined;
    return id ? [{ ...resource, id, outputs: resource.inputs ?? {} }] : [];
  });
  const resources = (state.deployment.resources ??= []) as { urn: string }[];
  resources.push(...adopted);
  await stack.importStack(state);
  if (adopted.length === 0) return { pendingCleared: pending.length, imported: [] };
  try {
    await refreshed(stack);
  } catch {
    // The target could not be read: the adopted resources are forgotten, as any other pending operation.
    const after = await stack.exportStack();
    const urns = new Set(adopted.map((r) => r.urn));
    after.deployment.resources = (after.deployment.resources as { urn: string }[]).filter((r) => !urns.has(r.urn));
    await stack.importStack(after);
    return { pendingCleared: pending.length, imported: [] };
  }
  const known = new Set(((await stack.exportStack()).deployment?.resources as { urn: string }[]).map((r) => r.urn));
  return { pendingCleared: pending.length, imported: adopted.filter((r) => known.has(r.urn)).map((r) => r.id) };
}
