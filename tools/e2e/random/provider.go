// Package random describes the Pulumi "random" provider: terraform-provider-random (a Terraform Plugin
// Framework provider) served through pulumi-terraform-bridge, with the tokens pulumi-random uses
// (random_password => random:index/randomPassword:RandomPassword, and so on).
//
// The module path sits under github.com/terraform-providers/terraform-provider-random only so that Go's
// internal-package rule lets this package call internal/provider.New; it is not published anywhere.
package random

import (
	"context"
	"errors"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	upstream "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// Version is the provider version; build.sh stamps it with -ldflags -X.
var Version = "0.0.0-dev"

// Provider returns the bridge's ProviderInfo. bridgeMetadata is the bridge-metadata.json that tfgen wrote
// (empty when tfgen itself runs).
func Provider(bridgeMetadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pf.ShimProvider(upstream.New()),
		Name:         "random",
		Description:  "A Pulumi package to safely use randomness in Pulumi programs.",
		Keywords:     []string{"pulumi", "random"},
		License:      "Apache-2.0",
		Version:      Version,
		MetadataInfo: tfbridge.NewProviderMetadata(bridgeMetadata),
		Resources: map[string]*tfbridge.ResourceInfo{
			// random_bytes has no "id" attribute: its ID is the base64 of the bytes.
			"random_bytes": {ComputeID: idFromBase64},
			// Old RandomString states may lack their schema version; treat them as version 1.
			"random_string": {PreStateUpgradeHook: func(a tfbridge.PreStateUpgradeHookArgs) (int64, resource.PropertyMap, error) {
				if a.PriorStateSchemaVersion == 0 {
					return 1, a.PriorState, nil
				}
				return a.PriorStateSchemaVersion, a.PriorState, nil
			}},
		},
		EnableAccurateBridgePreview: true,
		EnableRawStateDelta:         true,
	}
	// random_<name> => random:index/random<Name>:Random<Name>
	std := tokens.MakeStandard("random")
	info.MustComputeTokens(tokens.SingleModule("random_", "index", func(module, name string) (string, error) {
		return std(module, "Random"+name)
	}))
	info.MustApplyAutoAliases()
	return info
}

func idFromBase64(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
	v, ok := state["base64"]
	if !ok {
		return "", errors.New("random_bytes: no base64 property in state")
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		return "", errors.New("random_bytes: base64 property is not a string")
	}
	return resource.ID(v.StringValue()), nil
}
