// Runs Pulumi programs under `pulumi.runtime.setMocks` (for targets whose
// cloud is out of reach here) and records the resource graph they declare.
import * as pulumi from "@pulumi/pulumi";
import type { PulumiFn } from "@pulumi/pulumi/automation";
import { pulumiProgram, type StackProgram } from "../../infra/programs";
import type { OperationOptions, RefreshChanges, ResourceState, StackEngine, StackOutputs } from "../../server/deployments/stack-engine";

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

export type FailureRule = (r: RecordedResource, stack: string) => string | undefined;

/** Plausible cloud-assigned outputs for the resources Cutover's programs declare. */
function cloudOutputs(r: RecordedResource, stack: string): Record<string, unknown> {
  switch (r.type) {
    case "aws:lb/targetGroup:TargetGroup":
      return { arn: `arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/${stack}/${r.name}` };
    case "aws:lb/loadBalancer:LoadBalancer":
      return { arn: `arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/${stack}`, dnsName: `${stack.replace(/\./g, "-")}.elb.amazonaws.com` };
    case "aws:lb/listener:Listener":
      return { arn: `arn:aws:elasticloadbalancing:listener/${stack}` };
    case "aws:ec2/launchTemplate:LaunchTemplate":
      return { latestVersion: 1 };
    case "aws:autoscaling/group:Group":
      return { name: `${r.inputs.namePrefix}abc123` };
    case "kubernetes:apps/v1:Deployment":
      return { status: { readyReplicas: r.inputs.spec?.replicas ?? 0 } };
    case "cutover:local:Fleet":
      return { endpoints: Array.from({ length: Number(r.inputs.replicas) }, (_, i) => `127.0.0.1:${40000 + i}`), fleetId: `${r.inputs.name}-mock` };
    case "cutover:local:LoadBalancer":
      return { url: `http://127.0.0.1:${r.inputs.listenPort}`, metricsUrl: `http://127.0.0.1:${r.inputs.adminPort}/metrics` };
    default:
      return {};
  }
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

export async function runUnderMocks(program: PulumiFn | StackProgram, stack: string, fail?: FailureRule): Promise<{ resources: RecordedResource[]; outputs: StackOutputs }> {
  const resources: RecordedResource[] = [];
  let failure: string | undefined;
  let rejectRun: (err: Error) => void = () => undefined;
  // A failed resource leaves outputs that depend on it unresolved: end the run at the failure.
  const failed = new Promise<never>((_, reject) => (rejectRun = reject));
  failed.catch(() => undefined);
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const r = { type: args.type, name: args.name, inputs: args.inputs };
        resources.push(r);
        const reason = fail?.(r, stack);
        if (reason) {
          // As the engine reports a failed create: the operation fails (the program itself goes on).
          failure ??= reason;
          rejectRun(new Error(`error: ${reason}`));
        }
        return { id: `${args.name}-id`, state: { ...args.inputs, ...cloudOutputs(r, stack) } };
      },
      call(args) {
        if (args.token === "aws:ec2/getVpc:getVpc") return { id: "vpc-0default" };
        if (args.token === "aws:ec2/getSubnets:getSubnets") return { ids: ["subnet-0a", "subnet-0b"] };
        return {};
      },
    },
    "cutover",
    stack,
    false,
  );
  const declared = (await Promise.race([(typeof program === "function" ? program : pulumiProgram(program))(), failed])) ?? {};
  const outputs = await Promise.race([
    new Promise<StackOutputs>((resolve) => pulumi.output(declared).apply((v) => resolve(v as StackOutputs))),
    failed,
  ]);
  await settle();
  if (failure) throw new Error(`error: ${failure}`);
  return { resources, outputs };
}

/**
 * A StackEngine whose stacks live in memory and whose programs run under
 * mocks, so the real orchestrator can drive cloud targets in tests.
 */
export class MockedProgramEngine implements StackEngine {
  readonly stacks = new Map<string, { resources: RecordedResource[]; outputs: StackOutputs }>();
  readonly history: { stack: string; op: "up" | "destroy"; resources: RecordedResource[] }[] = [];
  fail?: FailureRule;
  private tail: Promise<unknown> = Promise.resolve();

  /** The mocked runtime is process-wide, so programs run one at a time. */
  private serial<T>(job: () => Promise<T>): Promise<T> {
    const next = this.tail.then(job, job);
    this.tail = next.catch(() => undefined);
    return next;
  }

  up(stack: string, program: PulumiFn | StackProgram, _opts?: OperationOptions): Promise<StackOutputs> {
    return this.serial(async () => {
      const result = await runUnderMocks(program, stack, this.fail);
      this.stacks.set(stack, result);
      this.history.push({ stack, op: "up", resources: result.resources });
      return result.outputs;
    });
  }

  async destroy(stack: string): Promise<void> {
    await this.serial(async () => {
      if (!this.stacks.has(stack)) return;
      this.history.push({ stack, op: "destroy", resources: this.stacks.get(stack)!.resources });
      this.stacks.delete(stack);
    });
  }

  async outputs(stack: string): Promise<StackOutputs> {
    return this.stacks.get(stack)?.outputs ?? {};
  }

  async exists(stack: string): Promise<boolean> {
    return this.stacks.has(stack);
  }

  /** The recorded graph stands for the cloud's state: a refresh reads it back unchanged. */
  async resources(stack: string): Promise<ResourceState[]> {
    return (this.stacks.get(stack)?.resources ?? []).map((r) => ({
      urn: `urn:pulumi:${stack}::cutover::${r.type}::${r.name}`,
      type: r.type,
      outputs: { ...r.inputs, ...cloudOutputs(r, stack) },
    }));
  }

  /** Nothing changes the recorded graph behind the engine's back, so a refresh finds nothing. */
  async refresh(): Promise<RefreshChanges> {
    return {};
  }

  async repair(): Promise<{ cancelled: boolean; pendingCleared: number }> {
    return { cancelled: false, pendingCleared: 0 };
  }

  killOrphanedProcesses(): number[] {
    return [];
  }

  resourcesOf(stack: string, type: string): RecordedResource[] {
    return (this.stacks.get(stack)?.resources ?? []).filter((r) => r.type === type);
  }
}

/** The inputs of the one resource of a type in a recorded graph; fails the test unless there is exactly one. */
export function onlyResource(resources: RecordedResource[], type: string): RecordedResource["inputs"] {
  const found = resources.filter((r) => r.type === type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0].inputs;
}

/**
 * The value of a property Pulumi holds as a secret (under mocks a nested
 * secret makes its whole top-level property one); fails the test when the
 * property is not a secret.
 */
export function secretValue(property: unknown): any {
  const wrapped = property as Record<string, unknown> | undefined;
  if (wrapped?.["4dabf18193072939515e22adb298388d"] !== "1b47061264138c4ac30d75fd1eb44270") {
    throw new Error(`expected a secret, got ${JSON.stringify(property)}`);
  }
  return wrapped.value;
}
