// The local runtime's public face: what the server's local target (and its
// start-up) may use of the process fleets and balancers, so that nothing
// outside infra/local reaches into the provider's internals.
export { probe, type HealthCheckSpec } from "./provider/health-check";
export { inspectFleet } from "./provider/fleet-controller";
export { reapUnowned } from "./provider/runtime-reaper";
export { identify, isAlive, type ProcessIdentity } from "./provider/process-identity";
export { runLocalJob, stopLocalJob, type LocalJob, type LocalJobResult } from "./provider/job-runner";
export { applyBalancerRouting, type BalancerInputs, type BalancerMaintenance, type BalancerTls } from "./provider/balancer-controller";
export { resolveRunAs, environmentRunAs, switchError, describeRunAs, RunAsError, type RunAs } from "./provider/run-as";
export { guardLoopback } from "./provider/loopback-guard";
export { adminUrlOf, readAdmin, readAdminConfig } from "./provider/balancer-admin";
