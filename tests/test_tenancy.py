"""Tenancy (Workspace with its clusters' kubeconfigs, Project, GitOpsSource): the recorded graph under mocks."""

from __future__ import annotations

import copy
import json
import re
import runpy
from collections import Counter
from typing import Any

import pulumi
import pytest
from harness import Graph, Registration, run
from schemas import validate
from support import CANARY, kubeconfig
from support import small_tenancy as small
from support import tenancy_program as build

from components import config, stack_plan
from components.management_cluster import ManagementCluster
from components.tenancy import KUSTOMIZE_CONTROLLER
from components.tenancy_plan import DEFAULT_WORKSPACE_NAMESPACE, KUBECONFIG_KEY

KS = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"
REPO = "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository"
SECRET = "kubernetes:core/v1:Secret"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def topology(workspaces: int = 3, projects: int = 4, clusters: int = 10) -> dict[str, Any]:
    """``workspaces`` x ``clusters`` clusters labelled env/region, ``projects`` per workspace, 2 sources each.

    Per workspace the projects select: all clusters; env=prod; region in (eu) and env notin (prod); nothing.
    """
    selectors = [
        {},
        {"matchLabels": {"env": "prod"}},
        {
            "matchExpressions": [
                {"key": "region", "operator": "In", "values": ["eu"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
            ]
        },
        {"matchLabels": {"env": "staging"}},
    ]
    raw: dict[str, Any] = {"workspaces": [], "projects": []}
    for w in range(workspaces):
        raw["workspaces"].append(
            {
                "name": f"ws{w}",
                "labels": {"tier": f"t{w}"},
                "clusters": [
                    {
                        "name": f"ws{w}-c{k}",
                        "labels": {"env": "prod" if k % 2 == 0 else "dev", "region": "eu" if k < 5 else "us"},
                        "kubeconfig": kubeconfig(f"ws{w}-c{k}"),
                    }
                    for k in range(clusters)
                ],
            }
        )
        for p in range(projects):
            raw["projects"].append(
                {
                    "name": f"ws{w}-p{p}",
                    "workspace": f"ws{w}",
                    "clusterSelector": selectors[p % len(selectors)],
                    "sources": [
                        {
                            "name": "apps",
                            "url": f"https://git.example.com/ws{w}-p{p}/apps.git",
                            "ref": {"branch": "main"},
                            "path": "./deploy",
                            "credentials": {"username": "bot", "password": f"{CANARY}-password-{w}-{p}"},
                        },
                        {
                            "name": "infra",
                            "url": f"ssh://git@git.example.com/ws{w}-p{p}/infra.git",
                            "ref": {"tag": "v1.0.0"},
                            "prune": False,
                            "credentials": {
                                "identity": f"{CANARY}-identity-{w}-{p}",
                                "knownHosts": f"{CANARY}-known-hosts-{w}-{p}",
                            },
                        },
                    ],
                }
            )
    return raw


@pytest.fixture(scope="module")
def big() -> tuple[Graph, list[str]]:
    """The 3 x 4 x 10 topology, built once; every object schema-checked, every log line kept."""
    logs: list[str] = []
    saved = {k: getattr(pulumi.log, k) for k in ("debug", "info", "warn", "error")}
    for k in saved:
        setattr(pulumi.log, k, lambda msg, *a, **kw: logs.append(str(msg)))
    try:
        graph = run(build(topology()))
    finally:
        for k, v in saved.items():
            setattr(pulumi.log, k, v)
    for _, obj in graph.k8s_objects():
        validate(obj)
    return graph, logs


def objects(graph: Graph, type_: str) -> list[dict[str, Any]]:
    return [r.inputs for r in graph.of_type(type_)]


def test_topology_at_scale(big) -> None:
    graph, _ = big
    counts = Counter(r.type.split(":")[-1] for r in graph)
    # per workspace: sources select 10 + 5 + 2 (eu & not prod: c1, c3) + 0 clusters, 2 sources each;
    # and on each of the 3 x 10 attached clusters, the Kustomization that creates its workspace namespace there
    assert counts["Kustomization"] == 3 * 2 * (10 + 5 + 2 + 0) + 3 * 10
    assert counts["GitRepository"] == 3 * 4 * 2
    assert counts["Workspace"] == 4 and counts["Project"] == 12 and counts["GitOpsSource"] == 24
    assert "AttachedCluster" not in counts  # a cluster is its kubeconfig Secret in its workspace, no component
    assert counts["Namespace"] == 4 + 12
    # 30 kubeconfigs + 24 credentials
    assert counts["Secret"] == 30 + 24
    by_ns = Counter(
        (o["metadata"]["namespace"], o["metadata"]["labels"]["kommander.d2iq.io/project"])
        for o in objects(graph, KS)
        if "kommander.d2iq.io/project" in o["metadata"]["labels"]
    )
    assert by_ns[("ws1", "ws1-p1")] == 2 * 5
    p2 = {
        o["metadata"]["name"]
        for o in objects(graph, KS)
        if o["metadata"]["labels"].get("kommander.d2iq.io/project") == "ws2-p2"
    }
    assert p2 == {f"ws2-p2-{s}-ws2-c{k}" for s in ("apps", "infra") for k in (1, 3)}
    status = graph_status(graph)
    assert status["ws0-p3"]["clusters"] == [] and status["ws0-p3"]["sources"]["apps"]["kustomizations"] == {}
    assert status["ws0-p1"]["sources"]["infra"]["kustomizations"]["ws0-c4"] == "ws0/ws0-p1-infra-ws0-c4"
    assert status["ws0-p1"]["sources"]["infra"]["gitRepository"] == "ws0-p1/infra"
    assert status["ws0-p1"]["namespace"] == "ws0-p1" and status["ws0-p1"]["workspace"] == "ws0"


def test_status_names_exactly_the_recorded_tenant_objects(big) -> None:
    """The status comes from the plan; it must name every GitRepository and Kustomization made, and no other."""
    graph, _ = big
    status = graph_status(graph)

    def ids(type_: str) -> set[str]:
        """The tenants' objects (not the platform's workspace-namespace Kustomizations on attached clusters)."""
        return {
            f"{o['metadata']['namespace']}/{o['metadata']['name']}"
            for o in objects(graph, type_)
            if "kommander.d2iq.io/application" not in o["metadata"]["labels"]
        }

    repos = {s["gitRepository"] for p in status.values() for s in p["sources"].values()}
    kustomizations = [k for p in status.values() for s in p["sources"].values() for k in s["kustomizations"].values()]
    assert repos == ids(REPO)
    assert len(kustomizations) == len(set(kustomizations)) and set(kustomizations) == ids(KS)
    for proj, entry in status.items():
        for source in entry["sources"].values():
            assert sorted(source["kustomizations"]) == sorted(entry["clusters"]), proj


def graph_status(graph: Graph) -> dict[str, Any]:
    status: dict[str, Any] = graph.outputs["tenants"]
    return status


def test_unmatched_selector_warns_naming_the_key(big) -> None:
    _, logs = big
    assert [m for m in logs if "matches no cluster" in m] == [
        f"kommander:projects[{i}].clusterSelector: matches no cluster of workspace 'ws{i // 4}'; "
        "its sources are deployed to no cluster"
        for i in (3, 7, 11)
    ]


def test_kustomization_spec(big) -> None:
    graph, _ = big
    ks = next(o for o in objects(graph, KS) if o["metadata"]["name"] == "ws0-p0-infra-ws0-c7")
    assert ks["metadata"]["namespace"] == "ws0"
    assert ks["spec"] == {
        "interval": "1m",
        "path": "./",
        "prune": False,
        "suspend": False,
        "sourceRef": {"kind": "GitRepository", "name": "infra", "namespace": "ws0-p0"},
        "targetNamespace": "ws0-p0",
        "serviceAccountName": "ws0-p0-reconciler",
        "kubeConfig": {"secretRef": {"name": "ws0-c7-kubeconfig", "key": KUBECONFIG_KEY}},
    }
    repo = next(
        o for o in objects(graph, REPO) if o["metadata"]["namespace"] == "ws0-p0" and o["metadata"]["name"] == "apps"
    )
    assert repo["spec"] == {
        "url": "https://git.example.com/ws0-p0/apps.git",
        "ref": {"branch": "main"},
        "interval": "1m",
        "secretRef": {"name": "apps-git-credentials"},
    }


def test_credentials_secrets_have_the_keys_flux_expects(big) -> None:
    graph, _ = big
    creds = {o["metadata"]["name"]: o for o in objects(graph, SECRET) if o["metadata"]["namespace"] == "ws1-p2"}
    assert set(creds["apps-git-credentials"]["stringData"]) == {"username", "password"}
    assert set(creds["infra-git-credentials"]["stringData"]) == {"identity", "known_hosts"}


def test_names_valid_and_unique_per_kind_and_namespace(big) -> None:
    graph, _ = big
    seen: Counter[tuple[str, str | None, str]] = Counter()
    for _, obj in graph.k8s_objects():
        name = obj["metadata"]["name"]
        assert len(name) <= 63 and NAME.match(name), name
        seen[(obj["kind"], obj["metadata"].get("namespace"), name)] += 1
    assert [k for k, n in seen.items() if n > 1] == []
    assert len({r.urn for r in graph}) == len(graph.resources)


def _strip(value: Any, path: list[str]) -> Any:
    """``value`` without the part at ``path`` (``a.b[0].c`` split into parts)."""
    if not path or value is None:
        return None
    head, rest = path[0], path[1:]
    out = copy.copy(value)
    m = re.fullmatch(r"(.*?)\[(\d+)\]", head)
    if m:
        key, idx = m.group(1), int(m.group(2))
        inner = out[key] if key else out
        inner = list(inner)
        inner[idx] = _strip(inner[idx], rest)
        if key:
            out[key] = inner
            return out
        return inner
    if isinstance(out, dict) and head in out:
        out[head] = _strip(out[head], rest)
    return out


def _public_inputs(res: Registration) -> Any:
    out: Any = res.inputs
    for path in res.secret_paths:
        parts = [p for p in re.split(r"\.(?![^\[]*\])", path) if p and p != "."]
        out = _strip(out, parts) if parts else None
    return out


def test_no_secret_in_plaintext(big) -> None:
    graph, logs = big
    carriers = [r for r in graph if CANARY in json.dumps(r.inputs)]
    # canaries travel only in Secrets: 30 kubeconfigs in workspace namespaces, 24 credentials
    assert len(carriers) == 54 and {r.type for r in carriers} == {SECRET}
    kubeconfigs = [r for r in carriers if f"{CANARY}-kubeconfig" in json.dumps(r.inputs)]
    assert len(kubeconfigs) == 30
    assert {r.inputs["metadata"]["namespace"] for r in kubeconfigs} == {"ws0", "ws1", "ws2"}
    for res in graph:
        assert CANARY not in json.dumps(_public_inputs(res)), f"{res.name} sends a canary outside a secret"
    for res in kubeconfigs:
        assert res.secret_paths, res.name
    assert CANARY not in json.dumps(graph_status(graph))
    assert not any(CANARY in line for line in logs)


def test_secret_check_would_catch_a_plaintext_value() -> None:
    """The check above fails when a value is not sent as a secret (it can fail)."""
    res = Registration("t", "n", "u", "", True, [], {}, False, "", {"stringData": {"a": CANARY}}, [])
    assert CANARY in json.dumps(_public_inputs(res))
    res.secret_paths = ["stringData"]
    assert CANARY not in json.dumps(_public_inputs(res))


def test_isolation(big) -> None:
    graph, _ = big
    workspaces = {f"ws{w}" for w in range(3)}
    kubeconfig_namespaces = {
        r.inputs["metadata"]["namespace"] for r in graph.of_type(SECRET) if "kubeconfig" in r.inputs["metadata"]["name"]
    }
    for proj in (r for r in graph.of_type("kommander:index:Project")):
        own = proj.name.removeprefix("t-project-")
        ws = own.split("-")[0]
        subtree = [
            r
            for r in graph
            if r.k8s_object
            and any(a.type in ("kommander:index:Project", "kommander:index:GitOpsSource") for a in graph.ancestors(r))
            and own == _project_of(graph, r)
        ]
        assert subtree
        allowed = {own, ws}
        for res in subtree:
            text = json.dumps(res.inputs)
            others = {f"ws{w}-p{p}" for w in range(3) for p in range(4)} - {own}
            found = {o for o in others if f'"{o}"' in text or f'"{o}/' in text}
            assert not found, f"{res.name} references {found}"
            obj = res.inputs
            assert obj["metadata"].get("namespace", own) in allowed
            spec = obj.get("spec") or {}
            for ref in (spec.get("sourceRef") or {}).get("namespace"), spec.get("targetNamespace"):
                assert ref in (None, own)
            if "kubeConfig" in spec:
                assert obj["metadata"]["namespace"] == ws
                assert spec["kubeConfig"]["secretRef"]["name"].startswith(f"{ws}-c")
    # no cluster-wide grants; only kustomize-controller is bound where kubeconfigs live
    assert not [r for r in graph if "ClusterRole" in r.type]
    for res in graph.of_type(BINDING):
        ns = res.inputs["metadata"]["namespace"]
        if ns in kubeconfig_namespaces:
            assert res.inputs["subjects"] == [
                {"kind": "ServiceAccount", "name": KUSTOMIZE_CONTROLLER, "namespace": "kommander-flux"}
            ]
    for res in graph.of_type(ROLE):
        ns = res.inputs["metadata"]["namespace"]
        for rule in res.inputs["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
            assert not {"rbac.authorization.k8s.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io"} & set(
                rule["apiGroups"]
            )
        if ns in kubeconfig_namespaces:
            assert res.inputs["rules"] == [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": sorted(f"{ns}-c{k}-kubeconfig" for k in range(10)),
                    "verbs": ["get"],
                }
            ]
    assert kubeconfig_namespaces == workspaces


def _project_of(graph: Graph, res: Registration) -> str | None:
    for a in graph.ancestors(res):
        if a.type == "kommander:index:Project":
            return a.name.removeprefix("t-project-")
        if a.type == "kommander:index:GitOpsSource":
            return a.name.removeprefix("t-source-").split(".")[0]
    return None


def test_reconciler_ordering(program) -> None:
    graph = program(build(small()))
    binding = graph.one(BINDING, "t-project-ops-reconciler")
    host = graph.one(KS, "t-source-ops.web-host-cluster")
    assert graph.depends_on(host, binding), "host Kustomization must be deleted before its RBAC"
    remote = graph.one(KS, "t-source-shop.web-e1")
    assert graph.depends_on(remote, graph.one(SECRET, "t-ws-edge-cluster-e1-kubeconfig")), "prune needs the kubeconfig"
    assert graph.depends_on(remote, graph.one(REPO, "t-source-shop.web-repository"))
    assert graph.depends_on(remote, graph.one("kubernetes:core/v1:Namespace", "t-ws-edge-namespace"))
    default_ns = graph.one("kubernetes:core/v1:Namespace", "t-ws-default-namespace")
    assert default_ns.inputs["metadata"]["name"] == DEFAULT_WORKSPACE_NAMESPACE
    # host-cluster has no kubeconfig Secret: the default workspace holds its namespace only
    default = graph.one("kommander:index:Workspace", "t-ws-default")
    assert [r.name for r in graph.children(default)] == ["t-ws-default-namespace"]
    assert not [r for r in graph.of_type(SECRET) if "host-cluster" in json.dumps(r.inputs)]


def test_kubeconfig_secrets_are_their_workspaces_and_keep_their_former_urn(program) -> None:
    """Each kubeconfig Secret is a child of its Workspace, aliased to its former parent (the
    ``AttachedCluster`` component of earlier versions), so an existing stack keeps the Secret."""
    graph = program(build(small()))
    workspace = graph.one("kommander:index:Workspace", "t-ws-edge")
    tenancy = graph.one("kommander:index:Tenancy", "t")
    secrets = {r.name: r for r in graph.children(workspace) if r.type == SECRET}
    assert set(secrets) == {"t-ws-edge-cluster-e1-kubeconfig", "t-ws-edge-cluster-e2-kubeconfig"}
    for cluster in ("e1", "e2"):
        secret = secrets[f"t-ws-edge-cluster-{cluster}-kubeconfig"]
        former = f"{tenancy.urn.rpartition('::')[0]}$kommander:index:AttachedCluster::t-cluster-edge.{cluster}"
        assert secret.aliases == [{"spec": {"name": f"t-cluster-edge.{cluster}-kubeconfig", "parentUrn": former}}]
        assert secret.inputs["metadata"]["name"] == f"{cluster}-kubeconfig"
        assert secret.inputs["metadata"]["namespace"] == "edge"
    moved = {r.name for r in graph for a in r.aliases if a["spec"].get("parentUrn")}
    assert moved == set(secrets), "only the moved Secrets have a former parent"


# --------------------------------------------------------------------------- config changes


def _inputs(graph: Graph) -> dict[str, dict[str, Any]]:
    return {r.urn: r.inputs for r in graph}


def _diff(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{path}.{k}" if path else k)
        return out
    return [] if a == b else [(path, a, b)]


def _changes(before: Graph, after: Graph) -> tuple[set[str], set[str], dict[str, list[tuple[str, Any, Any]]]]:
    a, b = _inputs(before), _inputs(after)
    changed = {urn: d for urn in set(a) & set(b) if (d := _diff(a[urn], b[urn]))}
    short = {urn.split("::")[-1]: d for urn, d in changed.items()}
    return {u.split("::")[-1] for u in set(a) - set(b)}, {u.split("::")[-1] for u in set(b) - set(a)}, short


def test_suspend_and_resume_change_only_spec_suspend(program) -> None:
    raw = small()
    before = program(build(raw))
    suspended = copy.deepcopy(raw)
    suspended["projects"][0]["sources"][1]["suspend"] = True
    after = program(build(suspended))
    removed, added, changed = _changes(before, after)
    assert removed == set() and added == set()
    assert changed == {
        "t-source-shop.api-e1": [("spec.suspend", False, True)],
        "t-source-shop.api-e2": [("spec.suspend", False, True)],
    }
    resumed = program(build(raw))
    assert _changes(after, resumed)[2] == {
        "t-source-shop.api-e1": [("spec.suspend", True, False)],
        "t-source-shop.api-e2": [("spec.suspend", True, False)],
    }


def test_removing_a_source_deletes_exactly_its_objects(program) -> None:
    raw = small()
    before = program(build(raw))
    fewer = copy.deepcopy(raw)
    del fewer["projects"][0]["sources"][1]
    removed, added, changed = _changes(before, program(build(fewer)))
    assert added == set() and changed == {}
    assert removed == {
        "t-source-shop.api",
        "t-source-shop.api-credentials",
        "t-source-shop.api-repository",
        "t-source-shop.api-e1",
        "t-source-shop.api-e2",
    }


def test_cluster_that_stops_matching_loses_its_kustomizations(program) -> None:
    raw = small()
    before = program(build(raw))
    moved = copy.deepcopy(raw)
    moved["workspaces"][0]["clusters"][1]["labels"] = {"env": "dev"}
    moved["workspaces"][0]["clusters"].append({"name": "e3", "labels": {"env": "prod"}, "kubeconfig": kubeconfig("e3")})
    removed, added, changed = _changes(before, program(build(moved)))
    assert removed == {"t-source-shop.web-e2", "t-source-shop.api-e2"}
    assert added == {
        "t-ws-edge-cluster-e3-kubeconfig",
        "t-ws-edge-cluster-e3-namespace",
        "t-source-shop.web-e3",
        "t-source-shop.api-e3",
    }
    # the workspace's kubeconfig reader learns the new Secret's name; nothing else changes
    assert changed == {
        "t-ws-edge-kubeconfig-reader": [
            ("rules", [_reader(["e1", "e2"])], [_reader(["e1", "e2", "e3"])]),
        ]
    }


def _reader(clusters: list[str]) -> dict[str, Any]:
    return {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": [f"{c}-kubeconfig" for c in clusters],
        "verbs": ["get"],
    }


# --------------------------------------------------------------------------- in the whole stack


def test_management_cluster_wires_tenancy_after_flux(program) -> None:
    cfg = config.parse(small(), secret_keys=["workspaces", "projects"])
    graph = program(lambda: ManagementCluster("kommander", stack_plan.build(cfg)))
    tenancy = graph.one("kommander:index:Tenancy", "kommander-tenancy")
    assert tenancy.parent == graph.one("kommander:index:ManagementCluster").urn
    flux = graph.one("kubernetes:helm.sh/v3:Release", "kommander-flux-controllers")
    flux_ns = graph.one("kubernetes:core/v1:Namespace", "kommander-namespaces-flux")
    customs = [r for r in graph.of_type(KS) + graph.of_type(REPO) if tenancy in graph.ancestors(r)]
    assert len(customs) == 2 * 2 + 1 + 3 + 2  # and the workspace namespace on each of the 2 attached clusters
    for res in customs:
        assert graph.depends_on(res, flux), f"{res.name} must wait for (and be deleted before) Flux"
    binding = graph.one(BINDING, "kommander-tenancy-ws-edge-kubeconfig-reader")
    assert binding.inputs["subjects"][0]["namespace"] == "kommander-flux"
    assert graph.depends_on(binding, flux_ns)


def test_main_exports_the_tenants_status(program) -> None:
    from support import ROOT, stack_config

    conf = {
        **stack_config("dev"),
        "kommander:workspaces": small()["workspaces"],
        "kommander:projects": small()["projects"],
    }
    graph = program(
        lambda: runpy.run_path(str(ROOT / "__main__.py")),
        config=conf,
        secret_keys=["kommander:workspaces", "kommander:projects"],
        stack="dev",
    )
    assert graph.outputs["tenants"]["shop"]["sources"]["api"] == {
        "gitRepository": "shop/api",
        "kustomizations": {"e1": "edge/shop-api-e1", "e2": "edge/shop-api-e2"},
    }
    assert graph.outputs["tenants"]["ops"]["clusters"] == ["host-cluster"]
    assert CANARY not in json.dumps(graph.outputs)
    # the status is in the state once, as the stack output: the component registers a summary
    tenancy = graph.one("kommander:index:Tenancy", "kommander-tenancy")
    assert graph.component_outputs[tenancy.urn] == {"workspaces": 2, "projects": 2, "sources": 3, "kustomizations": 5}
