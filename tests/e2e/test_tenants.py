"""A prod-like stack under the real engine: several workspaces, remote clusters, projects, sources, apps and
catalogs; then config changes, each producing exactly the expected steps and cluster state. In order, one stack."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prodlike
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from stack import ROOT, Env, Stack

KUSTOMIZE = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")


def tenant_config(env: Env, **changes: Any) -> dict[str, Any]:
    edge2_env = changes.get("edge2_env", "prod")
    sources = [
        {"name": "storefront", "url": "https://git.example.com/shop/storefront.git", "path": "./deploy"},
        {
            "name": "payments",
            "url": "https://git.example.com/shop/payments.git",
            "suspend": changes.get("suspend", False),
        },
    ]
    if changes.get("drop_payments"):
        sources = sources[:1]
    config = env.base_config("tenants")
    config.update(
        {
            "kommander:applicationsPath": str(catalog(env)),
            "kommander:versions": {"chartmuseum": changes.get("chartmuseum", "3.10.4")},
            "kommander:catalogs": [
                {"name": "community", "url": "https://git.example.com/catalog.git", "ref": {"tag": "v1.0.0"}}
            ],
            "kommander:workspaces": [
                {
                    "name": "edge",
                    "labels": {"tier": "edge"},
                    "clusters": [
                        {"name": "edge-1", "labels": {"env": "prod"}},
                        {"name": "edge-2", "labels": {"env": edge2_env}},
                    ],
                },
                {"name": "lab", "clusters": [{"name": "lab-1", "labels": {"env": "dev"}}]},
            ],
            "kommander:projects": [
                {
                    "name": "shop",
                    "workspace": "edge",
                    "clusterSelector": {"matchLabels": {"env": "prod"}},
                    "sources": sources,
                },
                {
                    "name": "research",
                    "workspace": "lab",
                    "sources": [{"name": "notebooks", "url": "https://git.example.com/n.git"}],
                },
                {
                    "name": "host-apps",
                    "workspace": "default",
                    "sources": [{"name": "web", "url": "https://git.example.com/w.git"}],
                },
            ],
        }
    )
    if changes.get("reloader"):
        config["kommander:apps"] = {"reloader": {"enabled": True}}
    return config


def catalog(env: Env) -> Path:
    """The bundled catalog plus a newer ChartMuseum version (3.10.5, the same files re-versioned): a user's checkout."""
    root = env.session_dir / "catalog"
    if not (root / "applications").exists():
        shutil.copytree(ROOT / "applications", root / "applications")
        old, new = root / "applications" / "chartmuseum" / "3.10.4", root / "applications" / "chartmuseum" / "3.10.5"
        shutil.copytree(old, new)
        for f in new.rglob("*.yaml"):
            f.write_text(f.read_text().replace("3.10.4", "3.10.5"))
    return root


@pytest.fixture(scope="module")
def tenants(env: Env) -> Iterator[Stack]:
    stack = env.stack("tenants")
    if not env.gitea.bare().exists():
        env.gitea.create("kommander-admin", "kommander")
    cfg = tenant_config(env)
    stack.write_config(cfg)
    stack.init()
    prodlike.set_kubeconfigs(stack, cfg)
    yield stack
    stack.ok("destroy", "--yes", "--json")


def reconfigure(stack: Stack, env: Env, **changes: Any) -> None:
    """Change the config, keeping the encrypted kubeconfigs the stack file already holds."""
    prodlike.reconfigure(stack, tenant_config(env, **changes))


def kustomizations(kube) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    items = client.CustomObjectsApi(kube).list_cluster_custom_object(*KUSTOMIZE)["items"]
    return {f"{k['metadata']['namespace']}/{k['metadata']['name']}": k for k in items}


def steps(result_json: dict[str, Any]) -> dict[str, int]:
    return {op: n for op, n in result_json["changes"].items() if op != "same" and n}


def test_preview_of_a_prod_like_stack_on_an_empty_cluster(tenants: Stack, kube) -> None:  # type: ignore[no-untyped-def]
    assert "kommander" not in {n.metadata.name for n in client.CoreV1Api(kube).list_namespace().items}
    result = tenants.ok("preview", "--json")
    assert result.json["changes"].get("create", 0) > 40, result


def test_up_fans_sources_out_to_selected_clusters(tenants: Stack, kube) -> None:  # type: ignore[no-untyped-def]
    tenants.ok("up", "--json")
    ks = kustomizations(kube)
    assert "edge/shop-storefront-edge-1" in ks and "edge/shop-storefront-edge-2" in ks
    assert "edge/shop-payments-edge-1" in ks
    assert "lab/research-notebooks-lab-1" in ks
    assert "host-apps/host-apps-web-host-cluster" in ks
    secret = client.CoreV1Api(kube).read_namespaced_secret("edge-1-kubeconfig", "edge")
    assert set(secret.data) == {"value.yaml"}
    assert tenants.run("preview", "--expect-no-changes", "--json").code == 0


def test_suspend_updates_only_its_kustomizations(tenants: Stack, env: Env, kube) -> None:  # type: ignore[no-untyped-def]
    reconfigure(tenants, env, suspend=True)
    preview = tenants.ok("preview", "--json")
    assert steps(preview.json) == {"update": 2}, preview.json["changes"]  # payments on edge-1 and edge-2
    tenants.ok("up", "--json")
    ks = kustomizations(kube)
    assert ks["edge/shop-payments-edge-1"]["spec"]["suspend"] is True
    assert ks["edge/shop-payments-edge-2"]["spec"]["suspend"] is True
    assert not ks["edge/shop-storefront-edge-1"]["spec"].get("suspend")
    reconfigure(tenants, env, suspend=False)
    tenants.ok("up", "--json")
    assert not kustomizations(kube)["edge/shop-payments-edge-1"]["spec"].get("suspend")


def test_cluster_that_stops_matching_loses_its_kustomizations(tenants: Stack, env: Env, kube) -> None:  # type: ignore[no-untyped-def]
    reconfigure(tenants, env, edge2_env="staging")
    preview = tenants.ok("preview", "--json")
    assert steps(preview.json) == {"delete": 2}, preview.json["changes"]
    tenants.ok("up", "--json")
    ks = kustomizations(kube)
    assert "edge/shop-storefront-edge-2" not in ks and "edge/shop-payments-edge-2" not in ks
    assert "edge/shop-storefront-edge-1" in ks


def test_deleting_a_source_removes_its_objects(tenants: Stack, env: Env, kube) -> None:  # type: ignore[no-untyped-def]
    reconfigure(tenants, env, edge2_env="staging", drop_payments=True)
    tenants.ok("up", "--json")
    assert "edge/shop-payments-edge-1" not in kustomizations(kube)
    with pytest.raises(ApiException) as gone:
        client.CustomObjectsApi(kube).get_namespaced_custom_object(
            "source.toolkit.fluxcd.io", "v1", "shop", "gitrepositories", "payments"
        )
    assert gone.value.status == 404


def test_optional_app_enabled_then_disabled(tenants: Stack, env: Env, kube) -> None:  # type: ignore[no-untyped-def]
    reconfigure(tenants, env, edge2_env="staging", drop_payments=True, reloader=True)
    tenants.ok("up", "--json")
    assert any("reloader" in name for name in kustomizations(kube))
    reconfigure(tenants, env, edge2_env="staging", drop_payments=True)
    tenants.ok("up", "--json")
    assert not any("reloader" in name for name in kustomizations(kube))


def test_chart_version_bump_updates_in_place(tenants: Stack, env: Env, kube) -> None:  # type: ignore[no-untyped-def]
    """The HelmRelease is updated in place (a replace would uninstall ChartMuseum); only the catalog's
    version-named defaults ConfigMap is replaced (a new name: created, then the old one deleted)."""
    reconfigure(tenants, env, edge2_env="staging", drop_payments=True, chartmuseum="3.10.5")
    preview = json.loads(tenants.pulumi("preview", "--json").stdout)
    changed = {
        (step["op"], step["urn"].split("::")[-2].split("$")[-1], step["urn"].split("::")[-1])
        for step in preview["steps"]
        if step["op"] != "same"
    }
    replaced = {(kind, name) for op, kind, name in changed if op in ("replace", "create-replacement", "delete")}
    assert replaced == {("kubernetes:core/v1:ConfigMap", "kommander-chartmuseum-defaults")}, changed
    assert ("update", "kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease", "kommander-chartmuseum-release") in changed
    tenants.ok("up", "--json")
    release = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "helm.toolkit.fluxcd.io", "v2", "kommander", "helmreleases", "chartmuseum"
    )
    assert release["spec"]["chart"]["spec"]["version"] == "3.10.5"
    names = {cm.metadata.name for cm in client.CoreV1Api(kube).list_namespaced_config_map("kommander").items}
    assert "chartmuseum-3.10.5-defaults" in names and "chartmuseum-3.10.4-defaults" not in names
