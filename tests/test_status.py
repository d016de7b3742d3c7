"""automation/status.py against an in-process fake of kubernetes' CustomObjectsApi."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from rich.console import Console
from rich.table import Table
from support import small_tenancy as small
from support import tenancy_program as build

from automation.status import (
    GIT_REPOSITORIES,
    HELM_RELEASES,
    KUSTOMIZATIONS,
    Row,
    clients_from_kubeconfigs,
    collect,
    healthy,
    render_table,
    to_json,
)


class FakeCustomObjects:
    """A stateful stand-in with CustomObjectsApi's signatures and its 404 behaviour."""

    def __init__(self, fail_list: int | None = None) -> None:
        self.objects: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
        self.fail_list = fail_list
        self.calls: list[tuple[str, ...]] = []

    def add(self, gvp: tuple[str, str, str], namespace: str, name: str, **body: Any) -> None:
        self.objects[(*gvp, namespace, name)] = {"metadata": {"name": name, "namespace": namespace}, **body}

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str) -> Any:
        self.calls.append(("get", group, version, namespace, plural, name))
        try:
            return copy.deepcopy(self.objects[(group, version, plural, namespace, name)])
        except KeyError:
            raise ApiException(status=404, reason="Not Found") from None

    def list_cluster_custom_object(self, group: str, version: str, plural: str) -> Any:
        self.calls.append(("list", group, version, plural))
        if self.fail_list:
            raise ApiException(status=self.fail_list, reason="Forbidden")
        return {"items": [copy.deepcopy(o) for k, o in self.objects.items() if k[:3] == (group, version, plural)]}


def ready(status: str, message: str = "") -> dict[str, Any]:
    return {"type": "Ready", "status": status, "message": message}


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    """The real ``tenants`` output of the small topology (the contract between stack and command)."""
    from harness import run

    return dict(run(build(small())).outputs["tenants"])


def populated() -> FakeCustomObjects:
    api = FakeCustomObjects()
    api.add(GIT_REPOSITORIES, "shop", "web", status={"artifact": {"revision": "main@sha1:bbb"}})
    api.add(GIT_REPOSITORIES, "shop", "api", status={"artifact": {"revision": "main@sha1:ccc"}})
    api.add(
        KUSTOMIZATIONS,
        "edge",
        "shop-web-e1",
        spec={"suspend": False},
        status={
            "lastAppliedRevision": "main@sha1:bbb",
            "conditions": [ready("True", "Applied revision: main@sha1:bbb")],
        },
    )
    api.add(
        KUSTOMIZATIONS,
        "edge",
        "shop-web-e2",
        spec={"suspend": True},
        status={"lastAppliedRevision": "main@sha1:aaa", "conditions": [ready("False", "dial tcp: i/o timeout")]},
    )
    api.add(
        KUSTOMIZATIONS,
        "edge",
        "shop-api-e1",
        status={"conditions": [ready("True"), {"type": "Propagation", "status": "True"}]},
    )
    # shop-api-e2 is missing; ops has neither GitRepository status nor conditions yet
    api.add(KUSTOMIZATIONS, "ops", "ops-web-host-cluster", status={})
    api.add(
        HELM_RELEASES, "kommander", "gitea", status={"lastAttemptedRevision": "12.4.0", "conditions": [ready("True")]}
    )
    api.add(HELM_RELEASES, "ops", "redis", spec={"suspend": True}, status={"conditions": [ready("False", "failed")]})
    return api


def test_collect_reads_every_source_on_every_cluster(expected) -> None:
    assert expected["shop"]["sources"]["web"]["kustomizations"] == {"e1": "edge/shop-web-e1", "e2": "edge/shop-web-e2"}
    remote = FakeCustomObjects()
    remote.add(HELM_RELEASES, "shop", "web", status={"lastAttemptedRevision": "1.0.0", "conditions": [ready("True")]})
    rows = collect(populated(), expected, clusters={"e1": remote, "e2": FakeCustomObjects(fail_list=403)})
    ks = {(r.project, r.source, r.cluster): r for r in rows if r.kind == "Kustomization"}
    assert ks[("shop", "web", "e1")] == Row(
        "shop", "web", "e1", "Kustomization", "edge", "shop-web-e1", "True", "True", "main@sha1:bbb",
        "Applied revision: main@sha1:bbb", False,
    )  # fmt: skip
    stale = ks[("shop", "web", "e2")]
    assert (stale.ready, stale.propagation, stale.suspended, stale.message) == (
        "False",
        "False",
        True,
        "dial tcp: i/o timeout",
    )
    assert (ks[("shop", "api", "e1")].ready, ks[("shop", "api", "e1")].propagation) == ("True", "True")
    missing = ks[("shop", "api", "e2")]
    assert (missing.ready, missing.propagation, missing.name, missing.message) == (
        "Missing",
        "False",
        "shop-api-e2",
        "not found",
    )
    fresh = ks[("ops", "web", "host-cluster")]
    assert (fresh.ready, fresh.propagation, fresh.namespace) == ("Unknown", "Unknown", "ops")
    assert len(ks) == 5

    helm = [
        (r.cluster, r.project, r.namespace, r.name, r.ready, r.suspended, r.message)
        for r in rows
        if r.kind == "HelmRelease"
    ]
    assert helm == [
        ("host-cluster", "", "kommander", "gitea", "True", False, ""),
        ("host-cluster", "ops", "ops", "redis", "False", True, "failed"),
        ("e1", "shop", "shop", "web", "True", False, ""),
        ("e2", "", "", "", "Unreachable", False, "HTTP 403"),
    ]
    assert not healthy(rows)


def test_cluster_without_client_is_unreachable_not_an_error(expected) -> None:
    rows = collect(populated(), expected)
    assert [(r.cluster, r.ready, r.message) for r in rows if r.ready == "Unreachable"] == [
        ("e1", "Unreachable", "no client for this cluster"),
        ("e2", "Unreachable", "no client for this cluster"),
    ]


def test_healthy_when_all_ready_or_suspended() -> None:
    ok = Row("p", "s", "c", "Kustomization", "n", "k", "True", "True", "r", "")
    paused = Row("p", "s", "c2", "Kustomization", "n", "k2", "False", "False", "r", "", suspended=True)
    assert healthy([ok, paused])
    assert not healthy([ok, Row("p", "s", "c3", "Kustomization", "n", "k3", "Missing", "False", "", "")])


def test_other_api_errors_are_not_swallowed(expected) -> None:
    class Broken(FakeCustomObjects):
        def get_namespaced_custom_object(self, *args: Any) -> Any:
            raise ApiException(status=500, reason="boom")

    with pytest.raises(ApiException):
        collect(Broken(), expected)


def test_render_table_and_json(expected) -> None:
    rows = collect(populated(), expected, clusters={"e1": FakeCustomObjects(), "e2": FakeCustomObjects()})
    table = render_table(rows)
    assert isinstance(table, Table) and table.row_count == len(rows)
    console = Console(record=True, width=250, color_system=None)
    console.print(table)
    text = console.export_text()
    assert "edge/shop-web-e1" in text and "False (suspended)" in text and "Missing" in text
    data = json.loads(to_json(rows))
    assert len(data) == len(rows)
    assert data[0] == {
        "cluster": "host-cluster",
        "kind": "Kustomization",
        "message": "",
        "name": "ops-web-host-cluster",
        "namespace": "ops",
        "project": "ops",
        "propagation": "Unknown",
        "ready": "Unknown",
        "revision": "",
        "source": "web",
        "suspended": False,
    }
    assert [d["ready"] for d in data] == [r.ready for r in rows]


def test_clients_from_kubeconfigs_builds_a_client_per_cluster() -> None:
    kc = (
        "apiVersion: v1\nclusters: [{name: c, cluster: {server: 'https://edge-1.example:6443'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    clients = clients_from_kubeconfigs({"e1": kc})
    assert isinstance(clients["e1"], CustomObjectsApi)
    assert clients["e1"].api_client.configuration.host == "https://edge-1.example:6443"
