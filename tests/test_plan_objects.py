"""The stack plan names every object the program applies, and the program applies nothing else.

``StackPlan.objects`` is what the collision check and the operators' tools read; the
program's registrations (every Kubernetes object Pulumi applies itself, under the
recording mocks) must be exactly that set, by kind, namespace and name, for each shipped
stack file and for configs that reach every branch of the plan: ingress by ACME and by a
given Secret, values set as secrets, an attached cluster in the ``default`` workspace, a
real kommander-applications tree whose apps have separate defaults.
"""

from __future__ import annotations

from typing import Any

import pytest
from schemas import shared
from stacks import ROOT, STACKS, stack_graph
from support import kubeconfig

from automation import stackfile
from components import config, stack_plan
from components.management_cluster import ManagementCluster

EDGE = kubeconfig("edge")

CONFIGS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "ingress by ACME, an app with values on two clusters": (
        {
            "ingress": {
                "enabled": True,
                "domain": "k.example.com",
                "certificate": "acme",
                "acme": {"email": "ops@example.com", "server": "https://acme.example.com/directory"},
            },
            "workspaces": [{"name": "edge", "clusters": [{"name": "edge-1", "kubeconfig": EDGE}]}],
            "apps": {"reloader": {"values": {"replicas": 2}, "clusters": ["host-cluster", "edge-1"]}},
        },
        ["workspaces[0].clusters[0].kubeconfig"],
    ),
    "ingress from a given Secret, values set as secrets": (
        {
            "ingress": {"enabled": True, "domain": "k.example.com", "certificate": "secret", "secretName": "tls"},
            "apps": {"reloader": {"values": {"token": "t0k3n"}}},
        },
        ["apps.reloader.values.token"],
    ),
    "the default workspace with a cluster, a catalog, a project": (
        {
            "workspaces": [{"name": "default", "clusters": [{"name": "edge-1", "kubeconfig": EDGE}]}],
            "apps": {"reloader": {"clusters": ["edge-1"]}},
            "catalogs": [{"name": "community", "url": "https://git.example.com/catalog.git", "ref": {"tag": "v1"}}],
            "projects": [
                {"name": "shop", "workspace": "default", "sources": [{"name": "s", "url": "https://g.example/s"}]}
            ],
        },
        ["workspaces[0].clusters[0].kubeconfig"],
    ),
}


def applied(graph: Any) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of every Kubernetes object the program registered ('' for cluster-scoped)."""
    out = set()
    for _, obj in graph.k8s_objects():
        metadata = obj["metadata"]
        out.add((obj["kind"], metadata.get("namespace") or "", metadata["name"]))
    return out


def planned(plan: stack_plan.StackPlan) -> set[tuple[str, str, str]]:
    names = [(o.kind, o.namespace, o.name) for o in plan.objects]
    assert len(names) == len(set(names)), "the plan lists an object twice"
    return set(names)


def check(plan: stack_plan.StackPlan, graph: Any) -> None:
    made, named = applied(graph), planned(plan)
    assert made - named == set(), "applied by the program but not named by the plan"
    assert named - made == set(), "named by the plan but not applied by the program"


@pytest.mark.parametrize("stack", STACKS)
def test_each_shipped_stack_applies_what_its_plan_names(stack: str) -> None:
    check(stack_plan.build(stackfile.load(ROOT, stack).config), stack_graph(stack))


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_every_branch_of_the_plan_applies_what_it_names(case: str, program: Any) -> None:
    raw, secret_keys = CONFIGS[case]
    plan = stack_plan.build(config.parse(raw, secret_keys=secret_keys))
    check(plan, program(lambda: ManagementCluster("kommander", plan)))


def test_a_real_tree_with_separate_defaults_applies_what_its_plan_names(program: Any) -> None:
    tree = shared("catalogs", "kommander-applications-v2.16.1")
    raw = {"applicationsPath": str(tree), "apps": {"cloudnative-pg": {"values": {"x": 1}}, "reloader": {}}}
    plan = stack_plan.build(config.parse(raw))
    assert any(p.defaults for p in plan.app_plans), "the case needs an app with separate defaults"
    check(plan, program(lambda: ManagementCluster("kommander", plan)))
