"""components/tenancy_plan.py: what the tenancy creates, listed before anything is registered, and every
collision of object names (per kind and namespace) or of Pulumi URNs (type chain and name) rejected."""

from __future__ import annotations

import pytest
from secret_paths import leaves
from support import small_tenancy, tenancy_program

from components import config
from components.config import ConfigError, parse
from components.tenancy_plan import PlannedObject, PlannedResource, check_collisions, plan

KC = "apiVersion: v1\nclusters: [{name: c}]\nusers: [{name: u}]\ncontexts: [{name: x}]\n"
TENANCY = "kommander:index:Tenancy"


def layout(raw: dict):  # type: ignore[no-untyped-def]
    cfg = config.StackConfig.model_validate(raw)  # the models alone: the plan's own checks under test
    return plan(cfg.workspaces, cfg.projects)


def ws(name: str, *clusters: str) -> dict:
    return {"name": name, "clusters": [{"name": c, "kubeconfig": KC} for c in clusters]}


def test_the_listing_is_what_the_tenancy_registers(program) -> None:
    raw = small_tenancy()
    cfg = parse(raw, secret_keys=leaves(raw))
    planned = plan(cfg.workspaces, cfg.projects)
    graph = program(tenancy_program(raw))
    registered_resources = set()
    registered_objects = set()
    for res in graph:
        types = [a.type for a in reversed(graph.ancestors(res))] + [res.type]  # the URN's type chain
        if TENANCY not in types[:-1]:
            continue
        registered_resources.add(("$".join(types[types.index(TENANCY) + 1 :]), res.name))
        obj = res.k8s_object
        if obj is not None:
            meta = obj["metadata"]
            registered_objects.add((obj["kind"], meta.get("namespace", ""), meta["name"]))
    assert {(r.type, r.name) for r in planned.resources("t")} == registered_resources
    assert {(o.kind, o.namespace, o.name) for o in planned.objects()} == registered_objects
    assert len(planned.objects()) == len(registered_objects)  # listed once each


def test_listing_names_the_key_of_each_entry() -> None:
    out = layout(small_tenancy())
    objects = out.objects()
    assert PlannedObject("Namespace", "", "kommander-default-workspace", "kommander:workspaces") in objects
    assert PlannedObject("Secret", "edge", "e2-kubeconfig", "kommander:workspaces[0].clusters[1]") in objects
    assert PlannedObject("Kustomization", "edge", "shop-api-e1", "kommander:projects[0].sources[1]") in objects
    assert PlannedObject("Secret", "shop", "api-git-credentials", "kommander:projects[0].sources[1]") in objects
    assert PlannedObject("ServiceAccount", "ops", "ops-reconciler", "kommander:projects[1]") in objects
    res = out.resources()
    assert (
        PlannedResource(
            "kommander:index:Workspace$kubernetes:core/v1:Secret",
            "kommander-tenancy-ws-edge-cluster-e1-kubeconfig",
            "kommander:workspaces[0].clusters[0]",
        )
        in res
    )


# (raw, error) pairs: each is a collision the engine or the cluster would hit mid-`up` on today's code
COLLISIONS = [
    (
        # the example: one Secret resource name (distinct objects in distinct namespaces)
        {"workspaces": [ws("edge", "x-cluster-y"), ws("edge-cluster-x", "y")]},
        "kommander:workspaces[1].clusters[0].name: Pulumi resource "
        "'kommander-tenancy-ws-edge-cluster-x-cluster-y-kubeconfig' (kubernetes:core/v1:Secret) "
        "is also made by workspaces[0].clusters[0]; rename one of them",
    ),
    (
        # sources: project a, source b-c on cluster d; source b on cluster c-d (host: the project namespace)
        {
            "workspaces": [ws("w", "d", "c-d")],
            "projects": [
                {
                    "name": "a",
                    "workspace": "w",
                    "sources": [{"name": "b-c", "url": "https://h/x"}, {"name": "b", "url": "https://h/y"}],
                }
            ],
        },
        "kommander:projects[0].sources[1].name: Kustomization 'a-b-c-d' in namespace 'w' "
        "is also made by projects[0].sources[0]; rename one of them",
    ),
    (
        # a tenant Kustomization named like a cluster's workspace-namespace Kustomization (both in 'w')
        {
            "workspaces": [ws("w", "x", "namespace")],
            "projects": [{"name": "x", "workspace": "w", "sources": [{"name": "workspace", "url": "https://h/x"}]}],
        },
        "kommander:projects[0].sources[0].name: Kustomization 'x-workspace-namespace' in namespace 'w' "
        "is also made by workspaces[0].clusters[0]; rename one of them",
    ),
    (
        # two projects: a-b/c and a/b-c on one remote cluster: one Kustomization in the workspace namespace
        {
            "workspaces": [ws("w", "c")],
            "projects": [
                {"name": "a-b", "workspace": "w", "sources": [{"name": "c", "url": "https://h/x"}]},
                {"name": "a", "workspace": "w", "sources": [{"name": "b-c", "url": "https://h/x"}]},
            ],
        },
        "kommander:projects[1].sources[0].name: Kustomization 'a-b-c-c' in namespace 'w' "
        "is also made by projects[0].sources[0]; rename one of them",
    ),
    (
        # source s-x on cluster y and source s on cluster x-y, in two workspaces (distinct namespaces): one URN
        {
            "workspaces": [ws("w1", "y"), ws("w2", "x-y")],
            "projects": [
                {"name": "p", "workspace": "w1", "sources": [{"name": "s-x", "url": "https://h/x"}]},
                {"name": "q", "workspace": "w2", "sources": [{"name": "s", "url": "https://h/x"}]},
            ],
        },
        None,  # distinct projects: distinct component names, no collision
    ),
]


@pytest.mark.parametrize(("raw", "message"), COLLISIONS)
def test_collisions_are_keyed_errors_naming_both_keys(raw: dict, message: str | None) -> None:
    if message is None:
        layout(raw)
        parse(raw, secret_keys=leaves(raw))
        return
    with pytest.raises(ConfigError) as err:
        layout(raw)
    assert str(err.value) == message
    with pytest.raises(ConfigError) as err:  # the config stage runs the plan: the offline check catches it too
        parse(raw, secret_keys=leaves(raw))
    assert str(err.value) == message


def test_source_kustomization_urns_collide_within_a_project() -> None:
    # one project on clusters y (remote) and x-y (remote, another workspace is impossible): sources s-x and s
    raw = {
        "workspaces": [ws("w", "y", "x-y")],
        "projects": [
            {
                "name": "p",
                "workspace": "w",
                "clusterSelector": {
                    "matchExpressions": [
                        {"key": "kommander.d2iq.io/cluster-name", "operator": "In", "values": ["y", "x-y"]}
                    ]
                },
                "sources": [{"name": "s-x", "url": "https://h/x"}, {"name": "s", "url": "https://h/x"}],
            }
        ],
    }
    with pytest.raises(ConfigError) as err:
        layout(raw)
    # the Kustomization objects collide first (p-s-x-y in 'w'); the URNs would too
    assert str(err.value).startswith("kommander:projects[0].sources[1].name: Kustomization 'p-s-x-y' in namespace 'w'")


def test_same_cluster_name_in_two_workspaces_is_rejected() -> None:
    raw = {"workspaces": [ws("a", "edge-1"), ws("b", "edge-2", "edge-1")]}
    with pytest.raises(ConfigError) as err:
        layout(raw)
    assert str(err.value) == (
        "kommander:workspaces[1].clusters[1].name: cluster 'edge-1' is also in workspaces[0]; cluster names are "
        "unique across workspaces (apps.<app>.clusters names clusters by name)"
    )


def test_check_collisions_accepts_the_sample_tenancy() -> None:
    check_collisions(layout(small_tenancy()))
