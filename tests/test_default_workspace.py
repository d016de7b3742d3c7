"""A workspace named ``default`` with attached clusters: its namespace is the plan's, everywhere.

The tenancy plan maps the ``default`` workspace to ``kommander-default-workspace`` (``default`` is Kubernetes' own
namespace); the kubeconfig Secret of each of its clusters lives there. AppDeployments on those clusters, catalog
copies and Gatekeeper's excluded namespaces must use that namespace, not the workspace's name.
"""

from __future__ import annotations

from typing import Any

from components import config, stack_plan
from components.management_cluster import ManagementCluster
from components.tenancy_plan import DEFAULT_WORKSPACE_NAMESPACE

KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://edge.example.com:6443'}}]\n"
    "users: [{name: a, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: a}}]\ncurrent-context: c\n"
)


def raw() -> dict[str, Any]:
    return {
        "workspaces": [{"name": "default", "clusters": [{"name": "edge-1", "kubeconfig": KUBECONFIG}]}],
        "apps": {"reloader": {"enabled": True, "clusters": ["edge-1"]}},
        "catalogs": [{"name": "community", "url": "https://git.example.com/catalog.git", "ref": {"tag": "v1"}}],
        "projects": [
            {"name": "shop", "workspace": "default", "sources": [{"name": "s", "url": "https://g.example/s"}]}
        ],
    }


def _graph(program):  # type: ignore[no-untyped-def]
    data = raw()
    cfg = config.parse(data, secret_keys=list(data), stack="dev")
    return program(lambda: ManagementCluster("kommander", stack_plan.build(cfg)))


def test_default_workspace_with_clusters_builds(program) -> None:  # type: ignore[no-untyped-def]
    graph = _graph(program)
    kustomizations = [r for r in graph if r.type == "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"]
    remote = [
        k
        for k in kustomizations
        if k.inputs["metadata"]["name"].startswith("reloader") and "kubeConfig" in k.inputs["spec"]
    ]
    assert remote, "the reloader AppDeployment on edge-1 is missing"
    for k in remote:
        assert k.inputs["metadata"]["namespace"] == DEFAULT_WORKSPACE_NAMESPACE
        assert k.inputs["spec"]["kubeConfig"]["secretRef"]["name"] == "edge-1-kubeconfig"
    secret = graph.one("kubernetes:core/v1:Secret", "kommander-tenancy-ws-default-cluster-edge-1-kubeconfig")
    assert secret.inputs["metadata"]["namespace"] == DEFAULT_WORKSPACE_NAMESPACE


def test_catalog_copies_go_to_the_default_workspace_namespace(program) -> None:  # type: ignore[no-untyped-def]
    graph = _graph(program)
    namespaces = {
        r.inputs["metadata"]["namespace"]
        for r in graph
        if r.type == "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository"
        and r.inputs["metadata"]["name"] == "community"
    }
    assert DEFAULT_WORKSPACE_NAMESPACE in namespaces and "default" not in namespaces
