"""What a Kustomization applied must be gone before Pulumi deletes what comes after it (Flux, at the end).

Flux's Kustomization ``deletionPolicy`` (kustomize-controller docs, "Deletion policy"): ``MirrorPrune`` (the
default) deletes the applied objects when ``prune`` is true *without waiting* for them; ``WaitForTermination``
deletes them and keeps the Kustomization (its finalizer) until they are terminated; ``Orphan`` leaves them. A
HelmRelease carries helm-controller's finalizer until Helm has uninstalled its release, so with the default Pulumi
could uninstall Flux while HelmReleases still wait for it. Every pruning Kustomization on the management cluster
that does not orphan on purpose must therefore wait for termination.
"""

from __future__ import annotations

import pytest

from components import config, stack_plan
from components.management_cluster import ManagementCluster

KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://edge.example.com:6443'}}]\n"
    "users: [{name: a, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: a}}]\ncurrent-context: c\n"
)

KUSTOMIZATION = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"
POLICIES = {"MirrorPrune", "Delete", "WaitForTermination", "Orphan"}


def raw(protect: bool) -> dict:
    return {
        "protect": protect,
        "apps": {"reloader": {"enabled": True, "clusters": ["host-cluster", "edge-1"]}},
        "workspaces": [{"name": "edge", "clusters": [{"name": "edge-1", "kubeconfig": KUBECONFIG}]}],
        "projects": [
            {"name": "web", "workspace": "default", "sources": [{"name": "site", "url": "https://g.example/site"}]},
            {"name": "shop", "workspace": "edge", "sources": [{"name": "s", "url": "https://g.example/s"}]},
        ],
    }


@pytest.mark.parametrize("protect", [False, True])
def test_pruning_kustomizations_on_the_management_cluster_wait_for_termination(program, protect: bool) -> None:  # type: ignore[no-untyped-def]
    data = raw(protect)
    cfg = config.parse(data, secret_keys=list(data), stack="prod" if protect else "dev")
    graph = program(lambda: ManagementCluster("kommander", stack_plan.build(cfg)))
    checked = 0
    for k in graph.of_type(KUSTOMIZATION):
        spec = k.inputs["spec"]
        policy = spec.get("deletionPolicy", "MirrorPrune")
        assert policy in POLICIES
        if "kubeConfig" in spec or not spec.get("prune") or spec.get("suspend"):
            continue  # another cluster's objects, or nothing is deleted with it
        checked += 1
        assert policy in ("WaitForTermination", "Orphan"), f"{k.name}: {policy} deletes in the background"
    assert checked >= 5
