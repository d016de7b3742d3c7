#!/usr/bin/env bash
# Before `make up`: make sure the stack has a cluster to talk to.
# A stack file with kubernetes:context, or a current kube context: nothing to do.
# Neither: create the `kommander` kind cluster from kind-config.yaml (kind makes
# kind-kommander the current context) when kind and docker are installed, else say
# in one line what to install (exit 2).
set -euo pipefail
stack="${1:-dev}"
root="$(cd "$(dirname "$0")/.." && pwd)"

if grep -Eq '^[[:space:]]+kubernetes:context:[[:space:]]*[^[:space:]"]' "$root/Pulumi.$stack.yaml" 2>/dev/null; then
  exit 0
fi

current_context() {
  local IFS=: file
  for file in ${KUBECONFIG:-$HOME/.kube/config}; do
    [ -f "$file" ] || continue
    if grep -Eq '^current-context:[[:space:]]*["'"'"']?[^[:space:]"'"'"']' "$file"; then
      return 0
    fi
  done
  return 1
}

if current_context; then
  exit 0
fi

missing=()
command -v docker >/dev/null 2>&1 || missing+=("Docker (https://docs.docker.com/get-docker/)")
command -v kind >/dev/null 2>&1 || missing+=("kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)")
if [ ${#missing[@]} -gt 0 ]; then
  joined="${missing[0]}"
  [ ${#missing[@]} -gt 1 ] && joined="$joined and ${missing[1]}"
  echo "error: no kube context to deploy to: install $joined for a local kind cluster, or set kubernetes:context in Pulumi.$stack.yaml" >&2
  exit 2
fi
echo "no kube context: creating the kind cluster 'kommander' from kind-config.yaml" >&2
kind create cluster --name kommander --config "$root/kind-config.yaml"
