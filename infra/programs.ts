// Every program Cutover runs, as plain data: which program, and its inputs.
// A program described this way can be handed to another process (an
// engine worker) and run there; `pulumiProgram` turns one into the inline
// program Pulumi's Automation API runs, loading the program's module (and
// its provider SDK) only when it first runs.
import type { PulumiFn } from "@pulumi/pulumi/automation";
import type { FleetArgs, LoadBalancerArgs } from "./local/resources";
import type { AwsSettings, FleetProgramInputs, KubernetesSettings, TrafficProgramInputs } from "./program-inputs";
import type { JobProgramInputs } from "./kubernetes/job-program";

export type StackProgram =
  /** Declares nothing: for reading a stack (its outputs, its state) or repairing it. */
  | { kind: "empty" }
  | { kind: "local/fleet"; args: FleetArgs }
  | { kind: "local/traffic"; args: LoadBalancerArgs }
  | { kind: "aws/fleet"; inputs: FleetProgramInputs; settings: AwsSettings }
  | { kind: "aws/traffic"; inputs: TrafficProgramInputs; settings: AwsSettings }
  | { kind: "kubernetes/fleet"; inputs: FleetProgramInputs; settings: KubernetesSettings }
  | { kind: "kubernetes/traffic"; inputs: TrafficProgramInputs; settings: KubernetesSettings }
  | { kind: "kubernetes/job"; inputs: JobProgramInputs; settings: KubernetesSettings };

export const EMPTY_PROGRAM: StackProgram = { kind: "empty" };

export function pulumiProgram(program: StackProgram): PulumiFn {
  switch (program.kind) {
    case "empty":
      return async () => undefined;
    case "local/fleet":
      return async () => (await import("./local/fleet-program")).localFleetProgram(program.args)();
    case "local/traffic":
      return async () => (await import("./local/traffic-program")).localTrafficProgram(program.args)();
    case "aws/fleet":
      return async () => (await import("./aws/fleet-program")).awsFleetProgram(program.inputs, program.settings)();
    case "aws/traffic":
      return async () => (await import("./aws/traffic-program")).awsTrafficProgram(program.inputs, program.settings)();
    case "kubernetes/fleet":
      return async () => (await import("./kubernetes/fleet-program")).kubernetesFleetProgram(program.inputs, program.settings)();
    case "kubernetes/traffic":
      return async () => (await import("./kubernetes/traffic-program")).kubernetesTrafficProgram(program.inputs, program.settings)();
    case "kubernetes/job":
      return async () => (await import("./kubernetes/job-program")).kubernetesJobProgram(program.inputs, program.settings)();
  }
}
