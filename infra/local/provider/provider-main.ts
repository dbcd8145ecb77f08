// Entry point of the pulumi-resource-cutover plugin: started by the Pulumi
// engine for one operation, or by an engine worker to serve all of its
// operations (the engine attaches to it through PULUMI_DEBUG_PROVIDERS).
// Either way it answers only processes of its own user (see infra/grpc-peer-guard.ts).
import "../../compile-cache";
import { main } from "@pulumi/pulumi/provider";
import { LocalProvider } from "./local-provider";
import { guardGrpcServers } from "../../grpc-peer-guard";

guardGrpcServers();
void main(new LocalProvider(), process.argv.slice(2));
