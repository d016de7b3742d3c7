#!/usr/bin/env bash
# Builds the Pulumi "random" resource provider plugin from Go modules only:
#
#   tools/e2e/random/build.sh <output-dir>     => <output-dir>/pulumi-resource-random
#
# terraform-provider-random is served through pulumi-terraform-bridge (see provider.go). A bridged provider
# embeds its Pulumi schema and bridge metadata, so this script copies the module to a scratch directory,
# runs the module's own tfgen there (cmd/pulumi-tfgen-random) to write schema.json and bridge-metadata.json,
# checks the schema, and builds cmd/pulumi-resource-random around them. Nothing is written into the repo.
#
# The version stamped into the binary is the "pulumi-random-version:" line of go.mod.
# Environment: GOMODCACHE, GOCACHE (defaults under $KOMMANDER_E2E_CACHE, else ~/.cache/kommander-e2e; the scratch
# copy goes to its build/).
set -euo pipefail

die() { echo "random/build.sh: error: $*" >&2; exit 1; }
trap 'echo "random/build.sh: error: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: $0 <output-dir>"
command -v go >/dev/null || die "go is not on PATH"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1" || die "cannot create output dir $1"
out=$(cd "$1" && pwd)

cache="${KOMMANDER_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kommander-e2e}"
export GOMODCACHE="${GOMODCACHE:-$cache/gomod}"
export GOCACHE="${GOCACHE:-$cache/gobuild}"
export GOFLAGS=-mod=mod
export CGO_ENABLED=0

version=$(sed -n 's|^// pulumi-random-version: *\([0-9][0-9A-Za-z.+-]*\) *$|\1|p' "$here/go.mod")
[ -n "$version" ] || die "no '// pulumi-random-version: X.Y.Z' line in $here/go.mod"
# Keep the stamp in step with the Python SDK the project pins, where that pin is visible.
req="$here/../../../requirements.txt"
if [ -f "$req" ] && pinned=$(sed -n 's/^pulumi-random==\([^ ;#]*\).*/\1/p' "$req") && [ -n "$pinned" ]; then
  [ "$pinned" = "$version" ] || die "go.mod says pulumi-random-version $version but requirements.txt pins pulumi-random==$pinned"
fi

modpath=$(sed -n 's/^module *\([^ ]*\) *$/\1/p' "$here/go.mod")
[ -n "$modpath" ] || die "no module line in $here/go.mod"
scratch="$cache/build/random-$version"
echo "random/build.sh: building pulumi-resource-random $version in $scratch" >&2
rm -rf "$scratch"
mkdir -p "$scratch/src" "$scratch/bin"
cp -R "$here/go.mod" "$here/go.sum" "$here/provider.go" "$here/cmd" "$scratch/src/"
cd "$scratch/src"

ldflags="-s -w -X $modpath.Version=$version"
go build -trimpath -ldflags "$ldflags" -o "$scratch/bin/pulumi-tfgen-random" ./cmd/pulumi-tfgen-random \
  || die "building pulumi-tfgen-random failed"

gen=cmd/pulumi-resource-random
"$scratch/bin/pulumi-tfgen-random" schema --skip-docs --skip-examples --out "$gen" >"$scratch/tfgen.log" 2>&1 \
  || { tail -n 20 "$scratch/tfgen.log" >&2; die "tfgen failed (log: $scratch/tfgen.log)"; }
[ -s "$gen/schema.json" ] || die "tfgen wrote no $gen/schema.json"
[ -s "$gen/bridge-metadata.json" ] || die "tfgen wrote no $gen/bridge-metadata.json"
for tok in random:index/randomPassword:RandomPassword random:index/randomString:RandomString random:index/randomId:RandomId; do
  grep -q "\"$tok\"" "$gen/schema.json" || die "generated schema lacks resource $tok"
done
# tfgen leaves the version out of schema.json; the served schema carries it, as pulumi-random's does.
sed -i '0,/^    "name": "random",$/s//    "name": "random",\n    "version": "'"$version"'",/' "$gen/schema.json"
grep -q "^    \"version\": \"$version\",\$" "$gen/schema.json" || die "could not stamp version $version into schema.json"

go build -trimpath -ldflags "$ldflags" -o "$scratch/bin/pulumi-resource-random" "./$gen" \
  || die "building pulumi-resource-random failed"

# The pins are the committed go.mod/go.sum: a build that had to change them is not reproducible.
cmp -s go.mod "$here/go.mod" && cmp -s go.sum "$here/go.sum" \
  || die "go.mod/go.sum changed during the build; run 'go mod tidy' in $here and commit the result"

got=$("$scratch/bin/pulumi-resource-random" -version) || die "pulumi-resource-random -version failed"
[ "$got" = "$version" ] || die "built binary reports version '$got', want '$version'"

install -m 0755 "$scratch/bin/pulumi-resource-random" "$out/pulumi-resource-random"
echo "random/build.sh: wrote $out/pulumi-resource-random ($version)" >&2
