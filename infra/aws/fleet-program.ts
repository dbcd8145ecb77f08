// AWS fleet stack, one per version: a launch template, a target group with
// the environment's health check, and an auto scaling group whose `up`
// returns only when its instances are healthy in that target group
// (waitForElbCapacity). A new group per version is the gate; an instance
// refresh would not wait.
import * as aws from "@pulumi/aws";
import type { PulumiFn } from "@pulumi/pulumi/automation";
import { durationSeconds as seconds } from "../duration";
import type { AwsSettings, FleetProgramInputs } from "../program-inputs";
import { userData } from "./user-data";

export function awsFleetProgram(input: FleetProgramInputs, settings: AwsSettings): PulumiFn {
  return async () => {
    const provider = new aws.Provider("aws", { region: settings.region, profile: settings.profile });
    const opts = { provider };
    const traffic = input.traffic ?? {};
    const tags = { Environment: input.environment, Color: input.color, Version: input.version, ManagedBy: "cutover" };
    const hc = input.healthCheck;
    const port = settings.instancePort;

    const targetGroup = new aws.lb.TargetGroup(
      "target-group",
      {
        namePrefix: input.color === "blue" ? "blu-" : "grn-",
        port,
        protocol: "HTTP",
        targetType: "instance",
        vpcId: traffic.vpcId as string,
        deregistrationDelay: seconds(input.drainTimeout, 0, 3600),
        healthCheck: {
          path: hc.path,
          port: "traffic-port",
          protocol: "HTTP",
          matcher: "200-299",
          interval: seconds(hc.interval, 5, 300),
          timeout: seconds(hc.timeout, 2, 120),
          healthyThreshold: Math.min(10, Math.max(2, hc.healthyThreshold)),
          unhealthyThreshold: 2,
        },
        tags,
      },
      opts,
    );

    const launchTemplate = new aws.ec2.LaunchTemplate(
      "launch-template",
      {
        namePrefix: `${input.environment}-${input.color}-`,
        imageId: settings.ami,
        instanceType: settings.instanceType,
        keyName: settings.keyName,
        vpcSecurityGroupIds: [traffic.instanceSecurityGroupId as string],
        userData: Buffer.from(userData(input.artifact, input.version, port, settings.userDataPreamble)).toString("base64"),
        tagSpecifications: [
          { resourceType: "instance", tags: { ...tags, Name: `${input.environment}-${input.color}-${input.version}` } },
          { resourceType: "volume", tags },
        ],
        tags,
      },
      opts,
    );

    const replicas = input.replicas;
    const group = new aws.autoscaling.Group(
      "auto-scaling-group",
      {
        namePrefix: `${input.environment}-${input.color}-${input.version.replace(/[^A-Za-z0-9-]/g, "-")}-`,
        // A rolling deployment's groups grow and shrink through the configured bounds.
        minSize: Math.min(settings.minSize ?? replicas, replicas),
        maxSize: Math.max(settings.maxSize ?? replicas, replicas),
        desiredCapacity: replicas,
        vpcZoneIdentifiers: traffic.subnetIds as string[],
        launchTemplate: { id: launchTemplate.id, version: launchTemplate.latestVersion.apply(String) },
        targetGroupArns: [targetGroup.arn],
        healthCheckType: "ELB",
        healthCheckGracePeriod: seconds(hc.startTimeout, 0, 7200),
        waitForElbCapacity: replicas,
        waitForCapacityTimeout: `${seconds(hc.startTimeout, 60, 7200)}s`,
        tags: Object.entries({ ...tags, Name: `${input.environment}-${input.color}-${input.version}` }).map(([key, value]) => ({
          key,
          value,
          propagateAtLaunch: true,
        })),
      },
      opts,
    );

    return {
      version: input.version,
      targetGroupArn: targetGroup.arn,
      autoScalingGroupName: group.name,
      launchTemplateId: launchTemplate.id,
      desiredCapacity: group.desiredCapacity,
      replicas,
    };
  };
}
