// Command pulumi-resource-random serves the Pulumi "random" provider.
//
// It embeds schema.json and bridge-metadata.json, which build.sh generates with cmd/pulumi-tfgen-random
// beside this file in a scratch copy of the module; they are never kept in the repository.
package main

import (
	"context"
	_ "embed"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	random "github.com/terraform-providers/terraform-provider-random/kommander-e2e"
)

//go:embed schema.json
var pulumiSchema []byte

//go:embed bridge-metadata.json
var bridgeMetadata []byte

func main() {
	pf.Main(context.Background(), "random", random.Provider(bridgeMetadata), pf.ProviderMetadata{PackageSchema: pulumiSchema})
}
