"""automation/ops.py through the real Kubernetes client against tests/fakekube.py (an HTTP API server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakekube import FakeKube, event
from kubernetes import client
from kubernetes import config as kube_config
from opsworld import SMALL_STACK, apis, closed_port_kubeconfig, populate
from support import small_tenancy as small
from support import tenancy_program as build

from automation import ops, stackedit
from components import config


@pytest.fixture(scope="module")
def plan() -> ops.Targets:
    return ops.targets(config.parse(small(), secret_keys=["workspaces", "projects"]))


@pytest.fixture
def clusters() -> Iterator[tuple[FakeKube, FakeKube]]:
    """The management cluster (Flux objects, e1's kubeconfig Secret) and attached cluster e1."""
    mgmt, e1 = FakeKube().start(), FakeKube(token="e1-token-abcdefghijklmnop").start()
    populate(mgmt, e1)
    yield mgmt, e1
    mgmt.stop()
    e1.stop()


# --------------------------------------------------------------------------- targets


def test_targets_name_exactly_what_the_tenancy_component_creates(plan: ops.Targets) -> None:
    """The offline targets agree with the objects the real component registers (its ``tenants`` status)."""
    from harness import run

    tenants = run(build(small())).outputs["tenants"]
    got = {
        s.project: {
            "namespace": s.namespace,
            "workspace": s.workspace,
            s.source: {
                "gitRepository": f"{s.namespace}/{s.repository}",
                "kustomizations": {t.cluster: f"{t.namespace}/{t.name}" for t in s.kustomizations},
            },
        }
        for s in plan.sources
    }
    for project, spec in tenants.items():
        assert (got[project]["namespace"], got[project]["workspace"]) == (spec["namespace"], spec["workspace"])
        for name, src in spec["sources"].items():
            if name in got[project]:
                assert got[project][name] == src
    assert {(s.project, s.source) for s in plan.sources} == {
        (p, s) for p, spec in tenants.items() for s in spec["sources"]
    }
    assert [(c.name, c.workspace, c.kubeconfig_secret) for c in plan.clusters] == [
        ("host-cluster", "default", None),
        ("e1", "edge", "edge/e1-kubeconfig"),
        ("e2", "edge", "edge/e2-kubeconfig"),
    ]
    assert [s.key for s in plan.sources] == [
        "kommander:projects[0].sources[0]",
        "kommander:projects[0].sources[1]",
        "kommander:projects[1].sources[0]",
    ]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"project": "nope"}, "unknown project 'nope' (known: ops, shop)"),
        ({"project": "shop", "source": "db"}, "unknown source 'db' in project 'shop' (known: api, web)"),
        ({"cluster": "e9"}, "unknown cluster 'e9' (known: e1, e2, host-cluster)"),
        ({"workspace": "retail"}, "unknown workspace 'retail' (known: default, edge)"),
        ({"workspace": "default", "cluster": "e1"}, "cluster 'e1' is not in workspace 'default'"),
        ({"workspace": "default", "project": "shop"}, "project 'shop' is not in workspace 'default'"),
    ],
)
def test_unknown_names_are_one_line_naming_them(plan: ops.Targets, filters: dict[str, str], message: str) -> None:
    with pytest.raises(ops.UnknownTargetError) as err:
        ops.select(plan, **filters)
    assert str(err.value) == message


def test_select_filters(plan: ops.Targets) -> None:
    assert [(s.project, s.source) for s in ops.select(plan, workspace="edge")] == [("shop", "web"), ("shop", "api")]
    only_e2 = ops.select(plan, project="shop", cluster="e2")
    assert [[t.cluster for t in s.kustomizations] for s in only_e2] == [["e2"], ["e2"]]
    assert [s.project for s in ops.select(plan, source="web")] == ["shop", "ops"]


def test_targets_list_every_workspace_and_project_and_where_each_source_is_fetched_from() -> None:
    raw = small()
    raw["workspaces"].append({"name": "lab"})
    raw["projects"].append({"name": "idle", "workspace": "lab"})  # no source, and no cluster to select
    raw["projects"][0]["sources"][1] = {
        "name": "api",
        "url": "ssh://git@h:2222/shop/api.git",
        "ref": {"tag": "v1.4.0"},
        "path": "./deploy",
        "credentials": {"identity": "key", "knownHosts": "h ssh-ed25519 AAAA"},
    }
    plan = ops.targets(config.parse(raw, secret_keys=["workspaces", "projects"]))
    assert [(w.name, w.namespace) for w in plan.workspaces] == [
        ("default", "kommander-default-workspace"),
        ("edge", "edge"),
        ("lab", "lab"),
    ]
    assert [(p.name, p.workspace, p.namespace, p.clusters) for p in plan.projects] == [
        ("shop", "edge", "shop", ("e1", "e2")),
        ("ops", "default", "ops", ("host-cluster",)),
        ("idle", "lab", "idle", ()),
    ]
    assert [(s.source, s.url, s.ref, s.path) for s in plan.sources] == [
        ("web", "https://h/web", "branch main", "./"),
        ("api", "ssh://h:2222/shop/api.git", "tag v1.4.0", "./deploy"),  # no user information
        ("web", "https://h/ops", "branch main", "./"),
    ]


# --------------------------------------------------------------------------- reading


def test_read_status_rows_keep_flux_messages_verbatim(plan: ops.Targets, clusters: tuple[FakeKube, FakeKube]) -> None:
    api, _ = apis(clusters[0])
    rows = {(r.project, r.source, r.cluster, r.kind): r for r in ops.read_status(api, plan)}
    assert len(rows) == 3 + 5  # three GitRepositories, five Kustomizations
    web = rows[("shop", "web", "e1", "Kustomization")]
    assert (web.ready, web.propagation, web.revision, web.message, web.workspace) == (
        "True",
        "True",
        "main@sha1:bbb",
        "Applied revision: main@sha1:bbb",
        "edge",
    )
    stale = rows[("shop", "web", "e2", "Kustomization")]
    assert (stale.ready, stale.propagation, stale.suspended) == ("False", "False", True)
    assert stale.message == "Deployment/shop/web dry-run failed: [spec.replicas]: Invalid value"
    repo = rows[("shop", "api", "host-cluster", "GitRepository")]
    assert (repo.ready, repo.message) == ("False", "auth failed: [401] see [/spec/secretRef]")
    assert (
        rows[("shop", "api", "e2", "Kustomization")].ready,
        rows[("shop", "api", "e2", "Kustomization")].message,
    ) == (
        "Missing",
        "not found",
    )
    fresh = rows[("ops", "web", "host-cluster", "Kustomization")]
    assert (fresh.ready, fresh.propagation, fresh.namespace) == ("Unknown", "Unknown", "ops")
    assert not ops.healthy(rows.values())


def test_read_status_filters_and_reads_only_what_is_selected(
    plan: ops.Targets, clusters: tuple[FakeKube, FakeKube]
) -> None:
    mgmt, _ = clusters
    api, _ = apis(mgmt)
    rows = ops.read_status(api, plan, project="shop", source="web", cluster="e1")
    assert [(r.kind, r.cluster, r.name) for r in rows] == [
        ("GitRepository", "host-cluster", "web"),
        ("Kustomization", "e1", "shop-web-e1"),
    ]
    assert all("shop-web-e2" not in path for _, path, _ in mgmt.requests)
    assert ops.healthy(rows)


def test_unreadable_objects_say_forbidden(plan: ops.Targets, clusters: tuple[FakeKube, FakeKube]) -> None:
    clusters[0].forbid.add(("get", "kustomizations"))
    api, _ = apis(clusters[0])
    rows = ops.read_status(api, plan, project="ops")
    assert [(r.kind, r.ready, r.message) for r in rows] == [
        ("GitRepository", "Unknown", ""),
        ("Kustomization", "Forbidden", "HTTP 403: no permission to read it"),
    ]


def test_unreachable_management_cluster_is_one_error(plan: ops.Targets) -> None:
    api_client = kube_config.new_client_from_config_dict(yaml.safe_load(closed_port_kubeconfig()))
    api_client.configuration.retries = 0
    with pytest.raises(ops.UnreachableError, match=r"^cannot reach the management cluster: .*") as err:
        ops.read_status(client.CustomObjectsApi(api_client), plan)
    assert "\n" not in str(err.value)


def test_helm_releases_per_cluster(plan: ops.Targets, clusters: tuple[FakeKube, FakeKube]) -> None:
    mgmt, e1 = clusters
    api, core = apis(mgmt)
    reached = ops.cluster_clients(core, plan)
    assert isinstance(reached["e2"], client.CustomObjectsApi)
    rows = ops.read_helm_releases(api, plan, reached)
    got = [
        (r.cluster, r.project, r.namespace, r.release, r.release_namespace, r.chart, r.version, r.ready) for r in rows
    ]
    assert got[:3] == [
        ("host-cluster", "", "kommander", "gitea", "kommander", "gitea", "12.4.0", "True"),
        ("host-cluster", "ops", "ops", "cache-redis", "cache", "redis", "20.1.0", "False"),
        ("e1", "shop", "shop", "storefront", "shop", "web-chart", "1.2.3", "True"),
    ]
    assert rows[1].suspended and rows[1].message == "install retries exhausted"
    assert (rows[3].cluster, rows[3].ready) == ("e2", "Unreachable")
    assert len(rows) == 4
    assert any(h.get("authorization") == f"Bearer {e1.token}" for _, _, h in e1.requests)


def test_cluster_clients_without_secret_or_permission(plan: ops.Targets, clusters: tuple[FakeKube, FakeKube]) -> None:
    mgmt, _ = clusters
    del mgmt.secrets[("edge", "e2-kubeconfig")]
    _, core = apis(mgmt)
    assert ops.cluster_clients(core, plan, cluster="e2") == {"e2": "kubeconfig Secret edge/e2-kubeconfig not found"}
    mgmt.forbid.add(("get", "secrets"))
    reasons = ops.cluster_clients(core, plan)
    assert reasons == {
        "e1": "kubeconfig Secret edge/e1-kubeconfig: HTTP 403 Forbidden",
        "e2": "kubeconfig Secret edge/e2-kubeconfig: HTTP 403 Forbidden",
    }
    rows = ops.read_helm_releases(apis(mgmt)[0], plan, reasons, cluster="e1")
    assert [(r.cluster, r.ready, r.message) for r in rows] == [
        ("e1", "Unreachable", "kubeconfig Secret edge/e1-kubeconfig: HTTP 403 Forbidden")
    ]


# --------------------------------------------------------------------------- actions


@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    path = tmp_path / "Pulumi.small.yaml"
    path.write_text(SMALL_STACK)
    return path


def test_suspend_patches_every_cluster_and_writes_the_stack_file(
    plan: ops.Targets, clusters: tuple[FakeKube, FakeKube], stack_file: Path
) -> None:
    mgmt, _ = clusters
    api, _ = apis(mgmt)
    changes = ops.suspend(api, plan, "shop", "web", stack_file=stack_file)
    assert [(c.cluster, c.kind, c.name, c.field, c.before, c.after, c.changed) for c in changes] == [
        ("e1", "Kustomization", "shop-web-e1", "spec.suspend", "false", "true", True),
        ("e2", "Kustomization", "shop-web-e2", "spec.suspend", "true", "true", False),
        ("", "StackFile", "Pulumi.small.yaml", "kommander:projects[0].sources[0].suspend", "unset", "true", True),
    ]
    assert mgmt.get(ops.KUSTOMIZATIONS, "edge", "shop-web-e1")["spec"]["suspend"] is True
    assert mgmt.patches == [("kustomizations", "edge", "shop-web-e1", {"spec": {"suspend": True}})]
    # the rest of the file is as it was: one line added, comments kept
    old, new = SMALL_STACK.splitlines(), stack_file.read_text().splitlines()
    assert [line for line in new if line not in old] == ["          suspend: true"]
    assert [line for line in old if line not in new] == []
    cfg = config.parse(_raw(stack_file), secret_keys=["workspaces", "projects"])
    assert cfg.projects[0].sources[0].suspend is True

    changes = ops.resume(api, plan, "shop", "web", stack_file=stack_file)
    assert [(c.cluster, c.before, c.after) for c in changes] == [
        ("e1", "true", "false"),
        ("e2", "true", "false"),
        ("", "true", "false"),
    ]
    assert mgmt.get(ops.KUSTOMIZATIONS, "edge", "shop-web-e2")["spec"]["suspend"] is False
    assert "          suspend: false" in stack_file.read_text().splitlines()


def _raw(path: Path) -> dict[str, Any]:
    from automation import stackfile

    values = yaml.safe_load(path.read_text())["config"]
    return stackfile.raw_config(values, {})[0]


def test_suspend_on_one_cluster_leaves_the_stack_file(
    plan: ops.Targets, clusters: tuple[FakeKube, FakeKube], stack_file: Path
) -> None:
    api, _ = apis(clusters[0])
    changes = ops.suspend(api, plan, "shop", "web", "e1", stack_file=stack_file)
    assert [(c.cluster, c.after, c.changed) for c in changes] == [("e1", "true", True)]
    assert stack_file.read_text() == SMALL_STACK


def test_suspend_without_permission_reports_each_cluster(
    plan: ops.Targets, clusters: tuple[FakeKube, FakeKube]
) -> None:
    mgmt, _ = clusters
    mgmt.forbid.add(("patch", "kustomizations"))
    api, _ = apis(mgmt)
    changes = ops.suspend(api, plan, "shop", "web")
    assert [(c.cluster, c.error) for c in changes] == [
        ("e1", "HTTP 403: no permission to patch it"),
        ("e2", ""),  # already suspended: nothing to patch
    ]
    changes = ops.suspend(api, plan, "shop", "api")
    assert [(c.cluster, c.error) for c in changes] == [
        ("e1", "HTTP 403: no permission to patch it"),
        ("e2", "not found"),
    ]
    assert mgmt.patches == []


def test_actions_reject_unknown_names_before_touching_anything(
    plan: ops.Targets, clusters: tuple[FakeKube, FakeKube], stack_file: Path
) -> None:
    mgmt, _ = clusters
    api, core = apis(mgmt)
    with pytest.raises(ops.UnknownTargetError, match=r"^unknown source 'db' in project 'shop'"):
        ops.suspend(api, plan, "shop", "db", stack_file=stack_file)
    with pytest.raises(ops.UnknownTargetError, match=r"^source 'web' of project 'ops' is not deployed to cluster 'e1'"):
        ops.reconcile(api, plan, "ops", "web", "e1")
    with pytest.raises(ops.UnknownTargetError, match=r"^unknown project 'nope'"):
        ops.events(core, api, plan, "nope", "web")
    assert mgmt.requests == [] and stack_file.read_text() == SMALL_STACK


def test_suspend_refuses_an_encrypted_projects_key_before_patching(
    plan: ops.Targets, clusters: tuple[FakeKube, FakeKube], tmp_path: Path
) -> None:
    path = tmp_path / "Pulumi.enc.yaml"
    path.write_text("config:\n  kommander:projects:\n    secure: v1:abc\n")
    api, _ = apis(clusters[0])
    with pytest.raises(stackedit.StackEditError, match=r"^kommander:projects\[0\]\.sources\[0\]\.suspend: .*encrypted"):
        ops.suspend(api, plan, "shop", "web", stack_file=path)
    assert clusters[0].patches == []


def test_reconcile_annotates_like_flux_source_first(plan: ops.Targets, clusters: tuple[FakeKube, FakeKube]) -> None:
    mgmt, _ = clusters
    api, _ = apis(mgmt)
    now = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)
    changes = ops.reconcile(api, plan, "shop", "web", with_source=True, now=now)
    stamp = "2026-03-01T12:30:05.123456000Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp)  # RFC 3339 with nanoseconds
    assert [(c.kind, c.cluster, c.after, c.error) for c in changes] == [
        ("GitRepository", "host-cluster", stamp, ""),
        ("Kustomization", "e1", stamp, ""),
        ("Kustomization", "e2", stamp, "suspended: resume it first"),
    ]
    assert [p[:3] for p in mgmt.patches] == [
        ("gitrepositories", "shop", "web"),
        ("kustomizations", "edge", "shop-web-e1"),
    ]
    annotations = mgmt.get(ops.KUSTOMIZATIONS, "edge", "shop-web-e1")["metadata"]["annotations"]
    assert annotations == {"reconcile.fluxcd.io/requestedAt": stamp}
    only = ops.reconcile(api, plan, "shop", "web", "e1", now=now)
    assert [(c.kind, c.cluster, c.changed) for c in only] == [("Kustomization", "e1", False)]


def test_events_and_failing_conditions(plan: ops.Targets, clusters: tuple[FakeKube, FakeKube]) -> None:
    mgmt, _ = clusters
    mgmt.events += [
        event(
            "shop",
            "GitRepository",
            "api",
            "GitOperationFailed",
            "auth failed [401]",
            type="Warning",
            time="2026-03-01T10:00:00Z",
        ),
        event("edge", "Kustomization", "shop-api-e1", "Progressing", "applied", time="2026-03-01T09:00:00Z"),
        event("edge", "Kustomization", "shop-web-e1", "Progressing", "other source", time="2026-03-01T08:00:00Z"),
    ]
    api, core = apis(mgmt)
    rows = ops.events(core, api, plan, "shop", "api")
    assert [(r.time, r.cluster, r.kind, r.name, r.type, r.reason, r.message) for r in rows] == [
        ("2026-03-01T09:00:00Z", "e1", "Kustomization", "shop-api-e1", "Normal", "Progressing", "applied"),
        (
            "2026-03-01T10:00:00Z",
            "host-cluster",
            "GitRepository",
            "api",
            "Warning",
            "GitOperationFailed",
            "auth failed [401]",
        ),
        (
            "",
            "host-cluster",
            "GitRepository",
            "api",
            "Condition",
            "Ready=False",
            "auth failed: [401] see [/spec/secretRef]",
        ),
        ("", "e2", "Kustomization", "shop-api-e2", "Condition", "Missing", "not found"),
    ]
    assert ops.events(core, api, plan, "shop", "api", "e1")[0].name == "shop-api-e1"


def test_a_workspace_without_clusters_is_known_and_selects_nothing() -> None:
    """``--workspace lab`` on a workspace that exists but has no cluster yet is an empty view, not 'unknown'."""
    raw = small()
    raw["workspaces"].append({"name": "lab"})
    plan = ops.targets(config.parse(raw, secret_keys=["workspaces", "projects"]))
    assert ops.select(plan, workspace="lab") == ()
    with pytest.raises(ops.UnknownTargetError, match="unknown workspace 'nope'"):
        ops.select(plan, workspace="nope")
