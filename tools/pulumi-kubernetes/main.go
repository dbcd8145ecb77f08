// The Kubernetes resource provider plugin (pulumi-resource-kubernetes),
// built from pulumi-kubernetes' provider module. Its own main embeds a
// schema its build generates; scripts/setup-kube.sh writes the same two
// files here from the module's schema.json and terraform-mapping.json.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
