// The AWS programs' resource graphs under Pulumi's mocks.
import { awsFleetProgram } from "../../infra/aws/fleet-program";
import { awsTrafficProgram } from "../../infra/aws/traffic-program";
import type { AwsSettings, FleetProgramInputs } from "../../infra/program-inputs";
import { onlyResource, runUnderMocks, secretValue } from "../helpers/mocked-programs";

const settings: AwsSettings = {
  region: "eu-west-1",
  ami: "ami-0123456789abcdef0",
  instanceType: "t3.small",
  instancePort: 8080,
  listenerPort: 80,
  forceHeader: "X-Cutover-Pool",
  stickiness: { enabled: true, duration: "1h" },
};

const fleet: FleetProgramInputs = {
  environment: "shop",
  color: "green",
  version: "v2",
  replicas: 3,
  artifact: { command: ["/opt/shop/bin/server", "--port=$PORT"], cwd: "/opt/shop", env: { GREETING: 'say "hi"' } },
  healthCheck: { path: "/healthz", interval: "10s", timeout: "3s", healthyThreshold: 3, startTimeout: "5m" },
  drainTimeout: "30s",
  traffic: { vpcId: "vpc-0abc", subnetIds: ["subnet-01", "subnet-02"], instanceSecurityGroupId: "sg-0instances" },
};

const one = onlyResource;

describe("aws fleet program", () => {
  it("declares a launch template, a health-checked target group and an ASG gated on ELB capacity", async () => {
    const { resources, outputs } = await runUnderMocks(awsFleetProgram(fleet, settings), "shop.green");
    const tg = one(resources, "aws:lb/targetGroup:TargetGroup");
    expect(tg).toMatchObject({
      port: 8080,
      protocol: "HTTP",
      vpcId: "vpc-0abc",
      deregistrationDelay: 30,
      healthCheck: { path: "/healthz", interval: 10, timeout: 3, healthyThreshold: 3, unhealthyThreshold: 2, matcher: "200-299" },
      tags: { Environment: "shop", Color: "green", Version: "v2" },
    });

    const lt = one(resources, "aws:ec2/launchTemplate:LaunchTemplate");
    expect(lt).toMatchObject({ imageId: settings.ami, instanceType: "t3.small", vpcSecurityGroupIds: ["sg-0instances"] });
    expect(lt.tagSpecifications[0]).toMatchObject({ resourceType: "instance", tags: { Version: "v2", Color: "green" } });
    const script = Buffer.from(lt.userData, "base64").toString("utf8");
    expect(script).toMatch(/^echo '[A-Za-z0-9+/=]+' \| base64 -d > \/etc\/systemd\/system\/cutover-app.service$/m);
    const unit = Buffer.from(/^echo '([^']+)'/m.exec(script)![1], "base64").toString("utf8");
    expect(unit).toContain('Environment="PORT=8080"');
    expect(unit).toContain('Environment="APP_VERSION=v2"');
    expect(unit).toContain('Environment="GREETING=say \\"hi\\""');
    expect(unit).toContain('ExecStart="/opt/shop/bin/server" "--port=$PORT"');
    expect(unit).toContain("WorkingDirectory=/opt/shop");

    const asg = one(resources, "aws:autoscaling/group:Group");
    expect(asg).toMatchObject({
      minSize: 3,
      maxSize: 3,
      desiredCapacity: 3,
      healthCheckType: "ELB",
      waitForElbCapacity: 3,
      waitForCapacityTimeout: "300s",
      vpcZoneIdentifiers: ["subnet-01", "subnet-02"],
    });
    expect(asg.instanceRefresh).toBeUndefined();
    expect(asg.targetGroupArns).toEqual([expect.stringContaining("targetgroup/shop.green")]);
    expect(asg.tags).toEqual(expect.arrayContaining([{ key: "Version", value: "v2", propagateAtLaunch: true }]));
    expect(outputs).toMatchObject({ version: "v2", desiredCapacity: 3, targetGroupArn: expect.stringContaining("shop.green") });
  });
});

describe("aws traffic program", () => {
  const blueArn = "arn:aws:elasticloadbalancing:tg/blue";
  const greenArn = "arn:aws:elasticloadbalancing:tg/green";
  const forceKey = "tQ2v9y0XbZk4m1pW7sHc3eLrN8aUdJ6fGiKoVqEt_-Y";
  const traffic = (blue: number, green: number | undefined, opts: { forceKey?: string; settings?: AwsSettings } = {}) =>
    awsTrafficProgram(
      {
        environment: "shop",
        pools: {
          blue: { weight: blue, fleet: { targetGroupArn: blueArn } },
          green: green === undefined ? { weight: 0 } : { weight: green, fleet: { targetGroupArn: greenArn } },
        },
        ...(opts.forceKey ? { forceKey: opts.forceKey } : {}),
      },
      opts.settings ?? settings,
    );
  const listenerRules = (resources: { type: string; inputs: Record<string, any> }[]) =>
    resources.filter((r) => r.type === "aws:lb/listenerRule:ListenerRule").map((r) => r.inputs);

  it("answers 503 with no fleet, and looks the default VPC up when none is given", async () => {
    const { resources, outputs } = await runUnderMocks(
      awsTrafficProgram({ environment: "shop", pools: { blue: { weight: 0 }, green: { weight: 0 } } }, settings),
      "shop.traffic",
    );
    const listener = one(resources, "aws:lb/listener:Listener");
    expect(listener.defaultActions).toEqual([expect.objectContaining({ type: "fixed-response" })]);
    expect(outputs).toMatchObject({ vpcId: "vpc-0default", subnetIds: ["subnet-0a", "subnet-0b"], url: "http://shop-traffic.elb.amazonaws.com:80" });
    const instances = resources.find((r) => r.name === "instances")!.inputs;
    expect(instances.ingress).toEqual([expect.objectContaining({ fromPort: 8080, toPort: 8080, securityGroups: [expect.any(String)] })]);
  });

  it.each([
    [100, undefined, [{ arn: blueArn, weight: 100 }]],
    [90, 10, [{ arn: blueArn, weight: 90 }, { arn: greenArn, weight: 10 }]],
    [50, 50, [{ arn: blueArn, weight: 50 }, { arn: greenArn, weight: 50 }]],
    [0, 100, [{ arn: blueArn, weight: 0 }, { arn: greenArn, weight: 100 }]],
  ] as const)("forwards blue %p / green %p by weight, never beside targetGroupArn", async (blue, green, groups) => {
    const { resources } = await runUnderMocks(traffic(blue, green), "shop.traffic");
    const [action] = one(resources, "aws:lb/listener:Listener").defaultActions;
    expect(action.type).toBe("forward");
    expect(action.targetGroupArn).toBeUndefined();
    expect(action.forward.targetGroups).toEqual(groups);
    expect(action.forward.stickiness).toEqual({ enabled: true, duration: 3600 });
    // A force header without the environment's key forces nothing: no rule at all.
    expect(listenerRules(resources)).toEqual([]);
  });

  it("forces nothing without a forceHeader, whatever key it is given", async () => {
    const { forceHeader: _none, ...unforced } = settings;
    const { resources } = await runUnderMocks(traffic(50, 50, { forceKey, settings: unforced }), "shop.traffic");
    expect(listenerRules(resources)).toEqual([]);
  });

  it("forces a color only for `<color>:<key>` in the force header, the key a secret", async () => {
    const { resources, outputs } = await runUnderMocks(traffic(100, 0, { forceKey }), "shop.traffic");
    const rules = listenerRules(resources);
    expect(rules.map((r) => r.priority)).toEqual([10, 11]);
    expect(rules.map((r) => secretValue(r.conditions))).toEqual(
      ["blue", "green"].map((c) => [{ httpHeader: { httpHeaderName: "X-Cutover-Pool", values: [`${c}:${forceKey}`] } }]),
    );
    expect(rules.map((r) => r.actions)).toEqual([
      [{ type: "forward", targetGroupArn: blueArn }],
      [{ type: "forward", targetGroupArn: greenArn }],
    ]);
    // The key is nowhere in plain: not in another input of the graph, not in the stack's outputs.
    const plain = resources.map((r) => JSON.stringify({ ...r.inputs, conditions: undefined }));
    expect(plain.join("\n")).not.toContain(forceKey);
    expect(JSON.stringify(outputs)).not.toContain(forceKey);
  });
});
