"""Real kommander-applications trees (``../shared/catalogs``) deployed under the real engine.

Each tree as ``kommander:applicationsPath`` with two of its apps enabled (one with values):
``up`` converges against the real API server (every object accepted by the pinned CRDs),
the management repository holds the tree at its own paths, Flux objects upgraded to the
versions the pinned Flux serves, the AppDeployments follow Kommander's contract, and a
second run changes nothing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from stack import ROOT, Env, Stack

KUSTOMIZE = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
TREES = {
    "kommander-applications-v2.2.0": ("services", {"reloader": {}, "external-dns": {"values": {"logLevel": "debug"}}}),
    "kommander-applications-v2.16.1": (
        "applications",
        {"reloader": {}, "cloudnative-pg": {"values": {"replicaCount": 1}}},
    ),
}


def tree(name: str) -> str:
    path = ROOT.parent / "shared" / "catalogs" / name
    if not path.is_dir():
        pytest.fail(f"{path}: the real catalogs are read from ../shared/catalogs beside the clone", pytrace=False)
    return str(path)


def repository(env: Env) -> dict[str, bytes]:
    bare = str(env.gitea.bare())
    names = subprocess.run(
        ["git", "-C", bare, "ls-tree", "-r", "--name-only", "main"], capture_output=True, text=True, check=True
    ).stdout.split()
    return {
        n: subprocess.run(["git", "-C", bare, "show", f"main:{n}"], capture_output=True, check=True).stdout
        for n in names
        if n.endswith((".yaml", ".yml"))
    }


@pytest.fixture(scope="module")
def real(env: Env) -> Iterator[Stack]:
    stack = env.stack("real")
    if not env.gitea.bare().exists():
        env.gitea.create("kommander-admin", "kommander")
    stack.write_config(config_for(env, ORDER[0]))
    stack.init()
    yield stack
    stack.ok("destroy", "--yes", "--json")


def config_for(env: Env, name: str) -> dict[str, Any]:
    config: dict[str, Any] = env.base_config("real")
    config["kommander:applicationsPath"] = tree(name)
    config["kommander:apps"] = TREES[name][1]
    return config


#: The newer tree first, then the stack switched to the 2.x tree in place (AppDeployments move to services/).
ORDER = ("kommander-applications-v2.16.1", "kommander-applications-v2.2.0")


@pytest.mark.parametrize("name", ORDER)
def test_a_real_tree_deploys_and_converges(name: str, real: Stack, env: Env, kube) -> None:  # type: ignore[no-untyped-def]
    stack = real
    stack.write_config(config_for(env, name))
    layout, apps = TREES[name]
    stack.ok("up", "--json")
    # the tree at its own paths, its Flux objects at the versions Flux 2.7.2 serves
    files = repository(env)
    assert any(p.startswith(f"{layout}/reloader/") for p in files)
    assert any(p.startswith("platform/chartmuseum/") for p in files)  # the platform's own, from this project
    for path, data in files.items():
        if path.startswith(f"{layout}/"):
            for doc in yaml.safe_load_all(data):
                if isinstance(doc, dict) and doc.get("apiVersion", "").startswith("helm.toolkit.fluxcd.io/"):
                    assert doc["apiVersion"] == "helm.toolkit.fluxcd.io/v2", path
    # the AppDeployments, as Kommander's controller makes them
    items = client.CustomObjectsApi(kube).list_namespaced_custom_object(
        KUSTOMIZE[0], KUSTOMIZE[1], "kommander-flux", KUSTOMIZE[2]
    )["items"]
    by_name = {k["metadata"]["name"]: k for k in items}
    for app in apps:
        spec = by_name[app]["spec"]
        version_path = spec["path"].removeprefix("./")
        assert version_path.startswith(f"{layout}/{app}/") and any(p.startswith(f"{version_path}/") for p in files)
        assert spec["postBuild"]["substitute"]["releaseName"] == app
        assert spec["postBuild"]["substitute"]["appVersion"] == version_path.rsplit("/", 1)[-1]
        assert spec["postBuild"]["substituteFrom"][0]["name"] == "substitution-vars"
        assert f"{app}-defaults" in by_name, f"{app}: the version's defaults/ has its own Kustomization"
        assert {"name": f"{app}-defaults", "namespace": "kommander-flux"} in spec["dependsOn"]
    valued = next(app for app, cfg in apps.items() if cfg.get("values"))
    overrides = client.CoreV1Api(kube).read_namespaced_config_map(f"{valued}-overrides", "kommander")
    assert yaml.safe_load(overrides.data["values.yaml"]) == apps[valued]["values"]
    variables = client.CoreV1Api(kube).read_namespaced_config_map("substitution-vars", "kommander-flux").data
    assert variables["certificateIssuerName"] == "kommander-ca"
    # a second run changes nothing
    assert stack.run("preview", "--expect-no-changes", "--json").code == 0
