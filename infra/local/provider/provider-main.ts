// Entry point of the pulumi-resource-cutover plugin, started by the Pulumi engine.
import { main } from "@pulumi/pulumi/provider";
import { LocalProvider } from "./local-provider";

void main(new LocalProvider(), process.argv.slice(2));
