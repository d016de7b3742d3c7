// Command pulumi-resource-kubernetes serves the Pulumi Kubernetes provider from its Go module.
//
// Upstream's main embeds a version-stamped copy of the module's schema.json and terraform-mapping.json that its
// release build generates; tools/e2e/install.sh writes those two files beside this one before it builds.
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
