// AWS traffic stack: an ALB, its security groups, and a listener whose
// default action forwards to the blue and green target groups by weight
// (0-999), with optional stickiness. Cutover and rollback change weights
// only. When the environment opted in, a header rule per color lets whoever
// holds the force key reach it (`<header>: <color>:<key>`); the key is a
// secret in stack state, but anyone who can read the listener's rules sees it.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { PulumiFn } from "@pulumi/pulumi/automation";
import type { Color } from "../vocabulary";
import { durationSeconds as seconds } from "../duration";
import type { AwsSettings, TrafficProgramInputs } from "../program-inputs";

export function awsTrafficProgram(input: TrafficProgramInputs, settings: AwsSettings): PulumiFn {
  return async () => {
    const provider = new aws.Provider("aws", { region: settings.region, profile: settings.profile });
    const opts = { provider };
    const tags = { Environment: input.environment, ManagedBy: "cutover" };

    const vpcId = settings.vpcId ?? (await aws.ec2.getVpc({ default: true }, opts)).id;
    const subnetIds = settings.subnetIds ?? (await aws.ec2.getSubnets({ filters: [{ name: "vpc-id", values: [vpcId] }] }, opts)).ids;

    const albSecurityGroup = new aws.ec2.SecurityGroup(
      "alb",
      {
        vpcId,
        description: `Cutover ${input.environment}: load balancer`,
        ingress: [{ protocol: "tcp", fromPort: settings.listenerPort, toPort: settings.listenerPort, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] }],
        egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
        tags,
      },
      opts,
    );
    const instanceSecurityGroup = new aws.ec2.SecurityGroup(
      "instances",
      {
        vpcId,
        description: `Cutover ${input.environment}: instances, reachable from the load balancer only`,
        ingress: [{ protocol: "tcp", fromPort: settings.instancePort, toPort: settings.instancePort, securityGroups: [albSecurityGroup.id] }],
        egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
        tags,
      },
      opts,
    );
    const alb = new aws.lb.LoadBalancer(
      "alb",
      { loadBalancerType: "application", securityGroups: [albSecurityGroup.id], subnets: subnetIds, tags },
      opts,
    );

    const colors: Color[] = ["blue", "green"];
    const live = colors.filter((c) => input.pools[c].fleet?.targetGroupArn);
    const arn = (c: Color) => input.pools[c].fleet!.targetGroupArn as string;
    const defaultActions: aws.types.input.lb.ListenerDefaultAction[] =
      live.length === 0
        ? [{ type: "fixed-response", fixedResponse: { contentType: "text/plain", statusCode: "503", messageBody: "no version deployed" } }]
        : [
            {
              type: "forward",
              forward: {
                targetGroups: live.map((c) => ({ arn: arn(c), weight: Math.round(input.pools[c].weight) })),
                stickiness: settings.stickiness
                  ? { enabled: settings.stickiness.enabled, duration: seconds(settings.stickiness.duration, 1, 604_800) }
                  : undefined,
              },
            },
          ];
    const listener = new aws.lb.Listener(
      "listener",
      { loadBalancerArn: alb.arn, port: settings.listenerPort, protocol: "HTTP", defaultActions, tags },
      opts,
    );
    const forceHeader = settings.forceHeader;
    const forceKey = input.forceKey;
    if (forceHeader && forceKey) {
      live.forEach((c) => {
        new aws.lb.ListenerRule(
          `force-${c}`,
          {
            listenerArn: listener.arn,
            priority: c === "blue" ? 10 : 11,
            conditions: pulumi.secret([{ httpHeader: { httpHeaderName: forceHeader, values: [`${c}:${forceKey}`] } }]),
            actions: [{ type: "forward", targetGroupArn: arn(c) }],
            tags,
          },
          opts,
        );
      });
    }

    return {
      vpcId,
      subnetIds,
      instanceSecurityGroupId: instanceSecurityGroup.id,
      albSecurityGroupId: albSecurityGroup.id,
      dnsName: alb.dnsName,
      listenerArn: listener.arn,
      url: pulumi.interpolate`http://${alb.dnsName}:${settings.listenerPort}`,
    };
  };
}
