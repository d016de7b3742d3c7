#!/usr/bin/env bash
# Installs the toolchain the real-engine suite (tests/e2e) runs: the Pulumi CLI and engine, a Python language
# host, the Kubernetes and random resource providers, kube-apiserver, kube-controller-manager and etcd.
#
# Each part is taken from its official release where that can be downloaded, and otherwise built from Go modules
# with the module files under tools/e2e/<part>/. Versions are pinned there, in go.mod (the Go builds) and, for the
# two provider releases, in requirements.txt (the plugin version the Python SDK asks for). Modules, the build cache
# and the binaries live outside the clone, in $KOMMANDER_E2E_CACHE (default ~/.cache/kommander-e2e), keyed by
# version and by the files each build uses; a second run reuses them.
#
# Prints the toolchain root on the last line of stdout: <root>/bin holds every binary (the layout the Automation
# API's PulumiCommand(root=...) expects). Progress goes to stderr. When a part can be neither downloaded nor built
# it stops with one line saying what is missing and exits non-zero.
set -euo pipefail
shopt -s inherit_errexit # a failing step inside $(...) stops the script too

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${KOMMANDER_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kommander-e2e}"
# Release downloads are tried unless KOMMANDER_E2E_BUILD=1 (build everything from Go modules).
BUILD_ONLY="${KOMMANDER_E2E_BUILD:-0}"
PROBE_TIMEOUT="${KOMMANDER_E2E_PROBE_TIMEOUT:-15}"

export KOMMANDER_E2E_CACHE="$CACHE" GOMODCACHE="$CACHE/gomod" GOCACHE="$CACHE/gobuild" GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$CACHE/bin" "$CACHE/logs" "$CACHE/build"

say() { printf 'e2e toolchain: %s\n' "$*" >&2; }
fail() {
  printf 'e2e toolchain: %s\n' "$*" >&2
  exit 1
}

# The version a go.mod requires of a module (its require or tool line).
gomod_version() {
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1"
}

# The version requirements.txt pins for a PyPI package.
pip_pin() {
  sed -n "s/^$1==\([^ #]*\).*/\1/p" "$REPO/requirements.txt" | head -n1
}

# A short digest of the files a build uses, so that a change to them rebuilds.
digest() {
  cat "$@" | sha256sum | cut -c1-12
}

os_arch() {
  local os arch
  os="$(uname -s | tr '[:upper:]' '[:lower:]')"
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) arch="$(uname -m)" ;;
  esac
  printf '%s %s' "$os" "$arch"
}
read -r OS ARCH <<<"$(os_arch)"
PULUMI_ARCH="$ARCH"
[ "$ARCH" = amd64 ] && PULUMI_ARCH=x64

# download URL FILE: true when the URL could be fetched.
download() {
  [ "$BUILD_ONLY" = 1 ] && return 1
  command -v curl >/dev/null || return 1
  curl -fsSL --connect-timeout "$PROBE_TIMEOUT" --max-time 900 -o "$2" "$1" 2>/dev/null
}

need_go() {
  command -v go >/dev/null || fail "cannot get $1: its release ($2) could not be downloaded and Go is not installed (needs Go >= 1.26)"
}

# run_build NAME LOG COMMAND...: runs a build step, its output to LOG; on failure, the log's tail and one line.
run_build() {
  local name="$1" log="$2"
  shift 2
  if ! "$@" >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    fail "building $name from Go modules failed (log: $log)"
  fi
}

# finish TMP DIR: the part's binaries (TMP/out) become its cache folder DIR, printed for the root.
finish() {
  rm -rf "$2"
  mv "$1/out" "$2"
  rm -rf "$1"
  echo "$2"
}

# ---------------------------------------------------------------------------------------------------------------
# The Pulumi CLI and engine, the Python language host, the SDK's program runner and dynamic-provider plugin.
pulumi_part() {
  local mod="$HERE/pulumi/go.mod" ver key dir log tmp sdk
  ver="$(gomod_version "$mod" github.com/pulumi/pulumi/pkg/v3)"
  key="${ver}-$(digest "$mod" "$HERE/pulumi/go.sum" "$HERE/pulumi/language-python/main.go")"
  dir="$CACHE/bin/pulumi-$key"
  if [ -x "$dir/pulumi" ]; then echo "$dir"; return; fi
  tmp="$(mktemp -d "$CACHE/build/pulumi.XXXXXX")"
  local url="https://get.pulumi.com/releases/sdk/pulumi-${ver}-${OS}-${PULUMI_ARCH}.tar.gz"
  if download "$url" "$tmp/pulumi.tgz"; then
    say "pulumi $ver: release download"
    tar -xzf "$tmp/pulumi.tgz" -C "$tmp"
    mkdir -p "$tmp/out"
    cp "$tmp/pulumi/pulumi" "$tmp/pulumi/pulumi-language-python" "$tmp/pulumi/pulumi-language-python-exec" \
      "$tmp/pulumi/pulumi-resource-pulumi-python" "$tmp/out/"
  else
    need_go "pulumi $ver" "$url"
    log="$CACHE/logs/pulumi-$key.log"
    : >"$log"
    say "pulumi $ver: building from Go modules (log: $log)"
    mkdir -p "$tmp/out"
    (
      cd "$HERE/pulumi"
      run_build "pulumi $ver" "$log" go build -tags osusergo,grpcnotrace \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$ver" \
        -o "$tmp/out/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
      run_build "pulumi-language-python $ver" "$log" go build \
        -ldflags "-s -w -X main.version=${ver#v}" -o "$tmp/out/pulumi-language-python" ./language-python
    )
    run_build "pulumi $ver (module download)" "$log" \
      bash -c "cd '$HERE/pulumi' && go mod download github.com/pulumi/pulumi/sdk/v3"
    sdk="$(cd "$HERE/pulumi" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
    [ -d "$sdk/python/cmd" ] || fail "the Pulumi SDK module is not in the module cache (log: $log)"
    cp "$sdk/python/cmd/pulumi-language-python-exec" "$sdk/python/dist/pulumi-resource-pulumi-python" "$tmp/out/"
    chmod u+w,a+x "$tmp/out/"*
  fi
  finish "$tmp" "$dir"
}

# ---------------------------------------------------------------------------------------------------------------
# The Kubernetes provider: the release the Python SDK asks for, else the provider module pinned in go.mod, around a
# main of the project's own that embeds the module's schema stamped with the version.
kubernetes_part() {
  local src="$HERE/kubernetes" ver rel key dir log tmp moddir
  ver="$(gomod_version "$src/go.mod" github.com/pulumi/pulumi-kubernetes/provider/v4)"
  rel="$(pip_pin pulumi-kubernetes)"
  key="${ver}-r${rel}-$(digest "$src/go.mod" "$src/go.sum" "$src/main.go")"
  dir="$CACHE/bin/kubernetes-$key"
  if [ -x "$dir/pulumi-resource-kubernetes" ]; then echo "$dir"; return; fi
  tmp="$(mktemp -d "$CACHE/build/kubernetes.XXXXXX")"
  mkdir -p "$tmp/out"
  local url="https://get.pulumi.com/releases/plugins/pulumi-resource-kubernetes-v${rel}-${OS}-${ARCH}.tar.gz"
  if download "$url" "$tmp/k.tgz"; then
    say "pulumi-resource-kubernetes $rel: release download"
    tar -xzf "$tmp/k.tgz" -C "$tmp/out" pulumi-resource-kubernetes
  else
    need_go "pulumi-resource-kubernetes" "$url"
    log="$CACHE/logs/kubernetes-$key.log"
    : >"$log"
    say "pulumi-resource-kubernetes ${ver}: building from Go modules (log: $log)"
    cp "$src/go.mod" "$src/go.sum" "$src/main.go" "$tmp/"
    run_build "pulumi-resource-kubernetes (module download)" "$log" \
      bash -c "cd '$tmp' && go mod download github.com/pulumi/pulumi-kubernetes/provider/v4"
    moddir="$(cd "$tmp" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)"
    [ -d "$moddir" ] || fail "the provider module is not in the module cache after its download (log: $log)"
    # The release build stamps the schema's version; the version is the module's (pseudo-)version without its v.
    python3 - "$moddir/cmd/pulumi-resource-kubernetes" "$tmp" "${ver#v}" <<'PY'
import json, sys
src, out, version = sys.argv[1:]
schema = json.load(open(f"{src}/schema.json"))
schema["version"] = version
json.dump(schema, open(f"{out}/schema-embed.json", "w"), separators=(",", ":"))
json.dump(json.load(open(f"{src}/terraform-mapping.json")), open(f"{out}/terraform-mapping-embed.json", "w"),
          separators=(",", ":"))
PY
    (
      cd "$tmp"
      run_build "pulumi-resource-kubernetes" "$log" go build \
        -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${ver#v}" \
        -o "$tmp/out/pulumi-resource-kubernetes" .
    )
  fi
  finish "$tmp" "$dir"
}

# ---------------------------------------------------------------------------------------------------------------
# The random provider: the release the Python SDK asks for, else built by tools/e2e/random/build.sh.
random_part() {
  local src="$HERE/random" rel key dir log tmp
  rel="$(pip_pin pulumi-random)"
  key="r${rel}-$(digest "$src/go.mod" "$src/go.sum" "$src/build.sh" $(find "$src" -name '*.go' | sort))"
  dir="$CACHE/bin/random-$key"
  if [ -x "$dir/pulumi-resource-random" ]; then echo "$dir"; return; fi
  tmp="$(mktemp -d "$CACHE/build/random.XXXXXX")"
  mkdir -p "$tmp/out"
  local url="https://get.pulumi.com/releases/plugins/pulumi-resource-random-v${rel}-${OS}-${ARCH}.tar.gz"
  if download "$url" "$tmp/r.tgz"; then
    say "pulumi-resource-random $rel: release download"
    tar -xzf "$tmp/r.tgz" -C "$tmp/out" pulumi-resource-random
  else
    need_go "pulumi-resource-random" "$url"
    log="$CACHE/logs/random-$key.log"
    : >"$log"
    say "pulumi-resource-random: building from Go modules (log: $log)"
    run_build "pulumi-resource-random" "$log" bash "$src/build.sh" "$tmp/out"
  fi
  finish "$tmp" "$dir"
}

# ---------------------------------------------------------------------------------------------------------------
# kube-apiserver and kube-controller-manager, stamped with their version (an unstamped server reports v0.0.0).
kube_part() {
  local src="$HERE/kube" ver key dir log tmp major minor
  ver="$(gomod_version "$src/go.mod" k8s.io/kubernetes)"
  key="${ver}-$(digest "$src/go.mod" "$src/go.sum")"
  dir="$CACHE/bin/kube-$key"
  if [ -x "$dir/kube-apiserver" ] && [ -x "$dir/kube-controller-manager" ]; then echo "$dir"; return; fi
  tmp="$(mktemp -d "$CACHE/build/kube.XXXXXX")"
  mkdir -p "$tmp/out"
  local base="https://dl.k8s.io/release/${ver}/bin/${OS}/${ARCH}"
  if download "$base/kube-apiserver" "$tmp/out/kube-apiserver" &&
    download "$base/kube-controller-manager" "$tmp/out/kube-controller-manager"; then
    say "kube-apiserver $ver: release download"
    chmod +x "$tmp/out/"*
  else
    need_go "kube-apiserver $ver" "$base/kube-apiserver"
    log="$CACHE/logs/kube-$key.log"
    : >"$log"
    say "kube-apiserver and kube-controller-manager ${ver}: building from Go modules (log: $log)"
    major="${ver#v}"
    major="${major%%.*}"
    minor="$(echo "$ver" | cut -d. -f2)"
    local stamp="-X k8s.io/component-base/version.gitVersion=$ver -X k8s.io/component-base/version.gitMajor=$major"
    stamp="$stamp -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    stamp="$stamp -X k8s.io/client-go/pkg/version.gitVersion=$ver -X k8s.io/client-go/pkg/version.gitMajor=$major"
    stamp="$stamp -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    (
      cd "$src"
      for cmd in kube-apiserver kube-controller-manager; do
        run_build "$cmd $ver" "$log" go build -ldflags "-s -w $stamp" -o "$tmp/out/$cmd" \
          "k8s.io/kubernetes/cmd/$cmd"
      done
    )
  fi
  finish "$tmp" "$dir"
}

# ---------------------------------------------------------------------------------------------------------------
# etcd, at the version kube-apiserver requires.
etcd_part() {
  local src="$HERE/etcd" ver key dir log tmp
  ver="$(gomod_version "$src/go.mod" go.etcd.io/etcd/server/v3)"
  key="${ver}-$(digest "$src/go.mod" "$src/go.sum")"
  dir="$CACHE/bin/etcd-$key"
  if [ -x "$dir/etcd" ]; then echo "$dir"; return; fi
  tmp="$(mktemp -d "$CACHE/build/etcd.XXXXXX")"
  mkdir -p "$tmp/out"
  local url="https://github.com/etcd-io/etcd/releases/download/${ver}/etcd-${ver}-${OS}-${ARCH}.tar.gz"
  if download "$url" "$tmp/e.tgz"; then
    say "etcd $ver: release download"
    tar -xzf "$tmp/e.tgz" -C "$tmp"
    cp "$tmp/etcd-${ver}-${OS}-${ARCH}/etcd" "$tmp/out/"
  else
    need_go "etcd $ver" "$url"
    log="$CACHE/logs/etcd-$key.log"
    : >"$log"
    say "etcd ${ver}: building from Go modules (log: $log)"
    (
      cd "$src"
      run_build "etcd $ver" "$log" go build \
        -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=release-${ver}" -o "$tmp/out/etcd" \
        go.etcd.io/etcd/server/v3
    )
  fi
  finish "$tmp" "$dir"
}

start="$(date +%s)"
parts=()
for part in "${@:-pulumi kubernetes random kube etcd}"; do
  for p in $part; do
    # a plain assignment: errexit (inherited into the substitution) stops the run at a failed step
    dir="$("${p}_part")"
    parts+=("$dir")
  done
done

# One root whose bin/ links every binary, keyed by the parts it holds.
root="$CACHE/root-$(printf '%s\n' "${parts[@]}" | sha256sum | cut -c1-12)"
mkdir -p "$root/bin"
for d in "${parts[@]}"; do
  for f in "$d"/*; do ln -sf "$f" "$root/bin/$(basename "$f")"; done
done
say "ready in $(($(date +%s) - start)) s: $root/bin"
echo "$root"
