// Command pulumi-tfgen-random writes the provider's Pulumi schema and bridge metadata:
//
//	pulumi-tfgen-random schema --skip-docs --skip-examples --out <dir>
//
// build.sh runs it in a scratch copy of this module, then builds cmd/pulumi-resource-random around its output.
package main

import (
	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	random "github.com/terraform-providers/terraform-provider-random/kommander-e2e"
)

func main() {
	pftfgen.Main("random", random.Provider(nil))
}
