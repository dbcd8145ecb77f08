// The `cutover` package: its resources' type tokens, its version, and its
// schema as the provider answers GetSchema, what a program in any Pulumi
// language (YAML among them) needs to declare the local target's
// resources. Cutover's own programs use the typed classes in
// infra/local/resources.ts.
export const FLEET_TYPE = "cutover:local:Fleet";
export const BALANCER_TYPE = "cutover:local:LoadBalancer";
export const PROVIDER_VERSION = "0.1.0";

const ANY = { $ref: "pulumi.json#/Any" };
const string = { type: "string" };
const integer = { type: "integer" };
const boolean = { type: "boolean" };
const strings = { type: "array", items: string };

const fleetInputs = {
  name: string,
  version: string,
  replicas: integer,
  artifact: ANY,
  healthCheck: ANY,
  drainTimeoutMs: integer,
  runtimeDir: string,
};

const balancerInputs = {
  name: string,
  listenHost: string,
  listenPort: integer,
  adminPort: integer,
  pools: ANY,
  stickyHeader: string,
  stickyCookie: string,
  forceHeader: string,
  forceKey: { ...string, secret: true },
  healthCheck: ANY,
  maintenance: ANY,
  tls: ANY,
  holdWhenUnavailableMs: integer,
  dataPlane: string,
  accessLog: boolean,
  upstreamTimeoutMs: integer,
  runtimeDir: string,
};

export const PACKAGE_SCHEMA = {
  name: "cutover",
  version: PROVIDER_VERSION,
  description: "Cutover's local target: fleets of OS processes and the load balancer in front of them.",
  resources: {
    [FLEET_TYPE]: {
      description: "An immutable fleet of instances of one version, each a process under a supervisor, healthy before it is created.",
      inputProperties: fleetInputs,
      requiredInputs: ["name", "version", "replicas", "artifact", "healthCheck", "drainTimeoutMs", "runtimeDir"],
      properties: { ...fleetInputs, endpoints: strings, fleetId: string },
      required: ["name", "version", "replicas", "endpoints", "fleetId"],
    },
    [BALANCER_TYPE]: {
      description: "A load balancer splitting requests between weighted pools of endpoints.",
      inputProperties: balancerInputs,
      requiredInputs: ["name", "listenHost", "listenPort", "adminPort", "pools", "runtimeDir"],
      properties: { ...balancerInputs, url: string, metricsUrl: string },
      required: ["url", "metricsUrl"],
    },
  },
};
