"""What Flux deploys into a namespace of an attached cluster waits for a Kustomization that creates it there.

kustomize-controller creates no namespace (Flux docs: ``targetNamespace`` "must exist"; objects are applied with
server-side apply, which fails for a missing namespace), and nothing else creates the workspace namespace on an
attached cluster. Each attached cluster therefore gets a Kustomization, through its kubeconfig, that applies the
repository's ``bootstrap/namespace`` with the workspace namespace substituted; every remote AppDeployment
``dependsOn`` it.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

import yaml

from components import config, stack_plan
from components.management_cluster import ManagementCluster

ROOT = Path(__file__).resolve().parent.parent
KUSTOMIZATION = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"
KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://edge.example.com:6443'}}]\n"
    "users: [{name: a, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: a}}]\ncurrent-context: c\n"
)


def _graph(program, prefix: str = ""):  # type: ignore[no-untyped-def]
    data = {
        "gitea": {"pathPrefix": prefix},
        "apps": {"reloader": {"enabled": True, "clusters": ["edge-1", "lab-1"]}},
        "workspaces": [
            {"name": "edge", "clusters": [{"name": "edge-1", "kubeconfig": KUBECONFIG}]},
            {"name": "default", "clusters": [{"name": "lab-1", "kubeconfig": KUBECONFIG}]},
        ],
    }
    cfg = config.parse(data, secret_keys=["workspaces"], stack="dev")
    return program(lambda: ManagementCluster("kommander", stack_plan.build(cfg)))


def _rendered(path: str, variables: dict[str, str]) -> list[dict]:
    """The objects Flux applies from ``path`` of the repository (kustomization resources, postBuild substituted)."""
    folder = ROOT / path.removeprefix("./")
    resources = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
    return [yaml.safe_load(Template((folder / r).read_text()).substitute(variables)) for r in resources]


def test_remote_app_deployments_wait_for_their_namespace_on_the_cluster(program) -> None:  # type: ignore[no-untyped-def]
    graph = _graph(program)
    kustomizations = {
        (k.inputs["metadata"]["namespace"], k.inputs["metadata"]["name"]): k.inputs
        for k in graph.of_type(KUSTOMIZATION)
    }
    remote_apps = [
        (key, k["spec"])
        for key, k in kustomizations.items()
        if key[1].startswith("reloader-") and "kubeConfig" in k["spec"]
    ]
    assert len(remote_apps) == 2
    for (namespace, _name), spec in remote_apps:
        release_namespace = spec["postBuild"]["substitute"]["releaseNamespace"]
        creators = [
            kustomizations[(d.get("namespace", namespace), d["name"])]
            for d in spec.get("dependsOn", [])
            if (d.get("namespace", namespace), d["name"]) in kustomizations
        ]
        made = [
            (c, obj)
            for c in creators
            if c["spec"]["kubeConfig"] == spec["kubeConfig"]
            for obj in _rendered(c["spec"]["path"], c["spec"]["postBuild"]["substitute"])
            if obj["kind"] == "Namespace" and obj["metadata"]["name"] == release_namespace
        ]
        assert made, f"nothing creates {release_namespace} on the cluster of {_name}"
        creator = made[0][0]
        assert creator["spec"]["prune"] is False, "deleting it must not delete a namespace on an attached cluster"
        assert not creator["spec"].get("suspend")


def test_namespace_kustomization_follows_the_path_prefix(program) -> None:  # type: ignore[no-untyped-def]
    graph = _graph(program, prefix="platform")
    paths = {
        k.inputs["spec"]["path"]
        for k in graph.of_type(KUSTOMIZATION)
        if k.inputs["metadata"]["name"].endswith("-workspace-namespace")
    }
    assert paths == {"./platform/bootstrap/namespace"}
