"""Invariants of the whole program: determinism, no plaintext secret, destroy order, protect, names."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import pytest
from harness import Graph, run
from support import crd_installer

from components import config, stack_plan
from components.cert_manager import CRD_GROUPS as CERT_MANAGER_GROUPS
from components.flux import CRD_GROUPS as FLUX_GROUPS
from components.management_cluster import ManagementCluster

CANARY = "canary-7f3a9c"


def kubeconfig(cluster: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: {cluster}, cluster: {{server: 'https://{cluster}.example.com:6443'}}}}]\n"
        f"users: [{{name: admin, user: {{token: {CANARY}-token-{cluster}}}}}]\n"
        f"contexts: [{{name: {cluster}, context: {{cluster: {cluster}, user: admin}}}}]\n"
        f"current-context: {cluster}\n"
    )


def full_config(projects: int = 3, clusters: int = 4) -> dict[str, Any]:
    """A config that exercises every section, with a canary in every secret leaf."""
    return {
        "clusterName": "mgmt",
        "helmMirrorUrl": "https://charts.mirror.example.com",
        "ingress": {"domain": "kommander.example.com", "certificate": "rootCA"},
        "catalogs": [{"name": "community", "url": "https://git.example.com/catalog.git", "ref": {"tag": "v1.0.0"}}],
        "workspaces": [
            {
                "name": "edge",
                "labels": {"tier": "edge"},
                "clusters": [
                    {
                        "name": f"edge-{i}",
                        "labels": {"env": "prod" if i % 2 else "dev"},
                        "kubeconfig": kubeconfig(f"edge-{i}"),
                    }
                    for i in range(clusters)
                ],
            }
        ],
        "projects": [
            {
                "name": f"team-{p}",
                "workspace": "edge",
                "clusterSelector": {"matchLabels": {"env": "prod"}},
                "sources": [
                    {
                        "name": "app",
                        "url": f"https://git.example.com/team-{p}/app.git",
                        "credentials": {"username": "bot", "password": f"{CANARY}-password-{p}"},
                    },
                    {
                        "name": "infra",
                        "url": f"ssh://git@git.example.com/team-{p}/infra.git",
                        "credentials": {"identity": f"{CANARY}-identity-{p}", "knownHosts": f"{CANARY}-known-{p}"},
                        "suspend": p == 0,
                    },
                ],
            }
            for p in range(projects)
        ]
        + [
            {
                "name": "host-apps",
                "workspace": "default",
                "sources": [{"name": "web", "url": "https://git.example.com/w"}],
            }
        ],
    }


def build(raw: dict[str, Any], stack: str = "dev"):
    cfg = config.parse(raw, secret_keys=list(raw), stack=stack)
    return lambda: ManagementCluster("kommander", stack_plan.build(cfg))


@pytest.fixture(scope="module")
def graph() -> Graph:
    return run(build(full_config()))


def test_two_runs_record_identical_inputs(graph: Graph) -> None:
    again = run(build(full_config()))

    def snapshot(g: Graph) -> list[tuple[str, str, str, str]]:
        return sorted((r.type, r.name, r.parent, json.dumps(r.inputs, sort_keys=True, default=str)) for r in g)

    assert snapshot(graph) == snapshot(again)
    assert {k: json.dumps(v, sort_keys=True, default=str) for k, v in graph.outputs.items()} == {
        k: json.dumps(v, sort_keys=True, default=str) for k, v in again.outputs.items()
    }


def _leaves(value: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value if isinstance(value, str) else json.dumps(value))]


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) or p == "." for p in prefixes)


def test_canaries_only_in_secret_inputs(graph: Graph, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        logged = run(build(full_config()))
    planted = 0
    for res in logged:
        for path, leaf in _leaves(res.inputs):
            if CANARY in leaf:
                planted += 1
                assert _under(path, res.secret_paths), f"{res.type} {res.name}: {path} holds a secret in plaintext"
    assert planted > 0, "the canaries never reached the program"
    for record in caplog.records:
        assert CANARY not in record.getMessage(), f"secret in a log line: {record.getMessage()[:80]}"


def test_no_plaintext_secret_in_outputs(graph: Graph) -> None:
    assert CANARY not in json.dumps(graph.outputs, default=str)


def test_no_secret_in_configmaps_labels_or_annotations(graph: Graph) -> None:
    for res, obj in graph.k8s_objects():
        meta = obj.get("metadata") or {}
        text = json.dumps([meta.get("labels"), meta.get("annotations")])
        assert CANARY not in text, f"{res.name}: secret in labels/annotations"
        if obj["kind"] == "ConfigMap":
            assert CANARY not in json.dumps(obj.get("data")), f"{res.name}: secret in a ConfigMap"


def test_destroy_order_flux_and_cert_manager_objects_before_controllers(graph: Graph) -> None:
    checked = 0
    for res, obj in graph.k8s_objects():
        group = obj["apiVersion"].split("/")[0]
        if group in FLUX_GROUPS or group in CERT_MANAGER_GROUPS:
            installer = crd_installer(graph, obj["apiVersion"])
            assert installer is not None
            assert graph.depends_on(res, installer), f"{obj['kind']} {res.name} is not deleted before its controllers"
            checked += 1
    assert checked >= 10


def test_names_valid_and_unique_per_kind_and_namespace(graph: Graph) -> None:
    seen = Counter(
        (obj["apiVersion"].split("/")[0], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        for _, obj in graph.k8s_objects()
    )
    duplicates = [key for key, n in seen.items() if n > 1]
    assert not duplicates, duplicates
    urns = Counter(r.urn for r in graph)
    assert not [u for u, n in urns.items() if n > 1]


def test_names_unique_at_scale() -> None:
    big = run(build(full_config(projects=12, clusters=10)))
    seen = Counter(
        (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) for _, obj in big.k8s_objects()
    )
    assert not [key for key, n in seen.items() if n > 1]
    from schemas import validate

    for _, obj in big.k8s_objects():
        validate(obj)


def test_every_object_takes_its_fields_back_from_other_field_managers(graph: Graph) -> None:
    """An edit behind the stack's back (another field manager) must not make the stack unconvergeable: with
    server-side apply the provider fails on the conflict unless the object carries ``pulumi.com/patchForce``
    (found by tests/e2e/test_lifecycle.py against a real API server)."""
    objects = [r for r in graph if r.type.startswith("kubernetes:") and "metadata" in r.inputs]
    assert len(objects) > 50
    for r in objects:
        assert r.inputs["metadata"].get("annotations", {}).get("pulumi.com/patchForce") == "true", r.name


def test_every_impersonated_account_exists_where_flux_looks_for_it(graph: Graph) -> None:
    """kustomize-controller impersonates ``system:serviceaccount:<the Kustomization's namespace>:<serviceAccountName>``
    (also on a remote cluster, through ``kubeConfig``), and when a Kustomization is deleted it prunes what it
    applied only if that account exists on the management cluster in the Kustomization's namespace (fluxcd/pkg
    ``Impersonator.CanImpersonate``; otherwise it logs "unable to prune objects" and leaves them). So every
    account a Kustomization names is a ServiceAccount the stack keeps in that namespace, deleted after it."""
    accounts = {
        (obj["metadata"]["namespace"], obj["metadata"]["name"]): res
        for res, obj in graph.k8s_objects()
        if obj["kind"] == "ServiceAccount"
    }
    impersonating = [
        (res, obj)
        for res, obj in graph.k8s_objects()
        if obj["kind"] == "Kustomization" and obj["spec"].get("serviceAccountName")
    ]
    remote = [res for res, obj in impersonating if "kubeConfig" in obj["spec"]]
    assert remote, "the config must reach attached clusters for this check to mean anything"
    for res, obj in impersonating:
        key = (obj["metadata"]["namespace"], obj["spec"]["serviceAccountName"])
        assert key in accounts, f"{res.name}: no ServiceAccount {key[1]} in {key[0]}: Flux could not prune on delete"
        assert graph.depends_on(res, accounts[key]), f"{res.name} is not deleted before the account it impersonates"
