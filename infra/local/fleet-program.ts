// The local target's fleet program: one immutable fleet of processes.
import * as pulumi from "@pulumi/pulumi";
import type { PulumiFn } from "@pulumi/pulumi/automation";
import { Fleet, type FleetArgs } from "./resources";

export function localFleetProgram(args: FleetArgs): PulumiFn {
  return async () => {
    // The artifact's environment may carry credentials: it is kept encrypted in stack state.
    const fleet = new Fleet("fleet", { ...args, artifact: pulumi.secret(args.artifact) });
    return { endpoints: fleet.endpoints, version: fleet.version, fleetId: fleet.fleetId, replicas: fleet.replicas };
  };
}
