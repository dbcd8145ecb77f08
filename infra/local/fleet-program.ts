// The local target's fleet program: one immutable fleet of processes.
import type { PulumiFn } from "@pulumi/pulumi/automation";
import { Fleet, type FleetArgs } from "./resources";

export function localFleetProgram(args: FleetArgs): PulumiFn {
  return async () => {
    const fleet = new Fleet("fleet", args);
    return { endpoints: fleet.endpoints, version: fleet.version, fleetId: fleet.fleetId };
  };
}
