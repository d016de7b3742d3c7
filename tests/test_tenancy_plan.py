"""components/tenancy_plan.py (pure): names, selection, placement, and the bad inputs it rejects."""

from __future__ import annotations

import re

import pytest
from secret_paths import leaves

from components import config
from components.config import ConfigError, parse
from components.tenancy_plan import (
    DEFAULT_WORKSPACE_NAMESPACE,
    HOST_CLUSTER,
    LABEL_CLUSTER_NAME,
    plan,
    short_name,
    status,
)

KC = "apiVersion: v1\nclusters: [{name: c}]\nusers: [{name: u}]\ncontexts: [{name: x}]\n"
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def cfg(raw: dict) -> config.StackConfig:
    return parse(raw, secret_keys=leaves(raw))


def layout(raw: dict):
    c = cfg(raw)
    return plan(c.workspaces, c.projects)


def test_short_name_is_stable_valid_and_distinct() -> None:
    assert short_name("shop", "web", "edge-1") == "shop-web-edge-1"
    long_a = short_name("a" * 40, "b" * 40, "c")
    long_b = short_name("a" * 40, "b" * 40, "d")
    assert len(long_a) == 63 and NAME.match(long_a)
    assert long_a == short_name("a" * 40, "b" * 40, "c")  # stable across runs
    assert long_a != long_b
    # a cut that would end in '-' is trimmed before the hash
    cut = short_name("x" * 53 + "-" + "y" * 20)
    assert NAME.match(cut) and "--" not in cut


def test_default_workspace_always_exists_with_host_cluster() -> None:
    out = layout({})
    assert [w.name for w in out.workspaces] == ["default"]
    default = out.workspaces[0]
    assert default.namespace == DEFAULT_WORKSPACE_NAMESPACE
    assert [(c.name, c.kubeconfig, c.kubeconfig_secret) for c in default.clusters] == [(HOST_CLUSTER, None, None)]


def test_declared_default_workspace_keeps_host_cluster_first() -> None:
    out = layout({"workspaces": [{"name": "default", "clusters": [{"name": "c1", "kubeconfig": KC}]}]})
    assert [c.name for c in out.workspaces[0].clusters] == [HOST_CLUSTER, "c1"]


def test_selection_placement_and_names() -> None:
    raw = {
        "workspaces": [
            {
                "name": "edge",
                "clusters": [
                    {"name": "e1", "labels": {"env": "prod"}, "kubeconfig": KC},
                    {"name": "e2", "labels": {"env": "dev"}, "kubeconfig": KC},
                ],
            }
        ],
        "projects": [
            {
                "name": "shop",
                "workspace": "edge",
                "namespace": "shop-ns",
                "clusterSelector": {"matchLabels": {"env": "prod"}},
                "sources": [{"name": "web", "url": "https://h/x"}],
            },
            {
                "name": "ops",
                "workspace": "default",
                "sources": [{"name": "web", "url": "https://h/x", "credentials": {"username": "u", "password": "p"}}],
            },
        ],
    }
    shop, ops = layout(raw).projects
    assert shop.clusters == ("e1",) and shop.namespace == "shop-ns" and shop.service_account == "shop-reconciler"
    (web,) = shop.sources
    assert web.credentials_secret is None and web.repository == "web"
    (t,) = web.targets
    # remote: in the workspace namespace, beside the kubeconfig
    assert (t.cluster, t.name, t.namespace, t.kubeconfig_secret) == ("e1", "shop-web-e1", "edge", "e1-kubeconfig")
    assert ops.clusters == (HOST_CLUSTER,)
    (t,) = ops.sources[0].targets
    assert (t.name, t.namespace, t.kubeconfig_secret) == ("ops-web-host-cluster", "ops", None)
    assert ops.sources[0].credentials_secret == "web-git-credentials"
    assert status(layout(raw)) == {
        "shop": {
            "namespace": "shop-ns",
            "workspace": "edge",
            "clusters": ["e1"],
            "sources": {"web": {"gitRepository": "shop-ns/web", "kustomizations": {"e1": "edge/shop-web-e1"}}},
        },
        "ops": {
            "namespace": "ops",
            "workspace": "default",
            "clusters": [HOST_CLUSTER],
            "sources": {
                "web": {"gitRepository": "ops/web", "kustomizations": {HOST_CLUSTER: "ops/ops-web-host-cluster"}}
            },
        },
    }


def test_clusters_can_be_selected_by_name() -> None:
    raw = {
        "workspaces": [{"name": "w", "clusters": [{"name": f"c{i}", "kubeconfig": KC} for i in range(3)]}],
        "projects": [
            {
                "name": "p",
                "workspace": "w",
                "clusterSelector": {
                    "matchExpressions": [{"key": LABEL_CLUSTER_NAME, "operator": "NotIn", "values": ["c1"]}]
                },
            }
        ],
    }
    assert layout(raw).projects[0].clusters == ("c0", "c2")


def test_selector_matching_nothing_is_a_warning_naming_the_key() -> None:
    raw = {"projects": [{"name": "p", "workspace": "default", "clusterSelector": {"matchLabels": {"env": "x"}}}]}
    out = layout(raw)
    assert out.projects[0].clusters == ()
    assert out.warnings == (
        "kommander:projects[0].clusterSelector: matches no cluster of workspace 'default'; "
        "its sources are deployed to no cluster",
    )
    assert layout({"projects": [{"name": "p", "workspace": "default"}]}).warnings == ()


def test_long_names_are_shortened_never_rejected() -> None:
    long = "s" * 63
    raw = {
        "workspaces": [{"name": "w", "clusters": [{"name": "c" * 63, "kubeconfig": KC}]}],
        "projects": [{"name": "p" * 63, "workspace": "w", "sources": [{"name": long, "url": "https://h/x"}]}],
    }
    proj = layout(raw).projects[0]
    names = [proj.service_account, proj.sources[0].targets[0].name, proj.sources[0].targets[0].kubeconfig_secret]
    for name in names:
        assert name is not None and len(name) <= 63 and NAME.match(name), name


def test_colliding_kustomization_names_are_rejected_naming_the_key() -> None:
    raw = {
        "workspaces": [{"name": "w", "clusters": [{"name": "c", "kubeconfig": KC}]}],
        "projects": [
            {"name": "a-b", "workspace": "w", "sources": [{"name": "c", "url": "https://h/x"}]},
            {"name": "a", "workspace": "w", "sources": [{"name": "b-c", "url": "https://h/x"}]},
        ],
    }
    with pytest.raises(ConfigError) as err:
        layout(raw)
    assert str(err.value) == (
        "kommander:projects[1].sources[0].name: Kustomization 'a-b-c-c' in namespace 'w' "
        "is also made by projects[0].sources[0]; rename one of them"
    )


def test_project_namespace_may_not_be_the_default_workspace_namespace() -> None:
    raw = {"projects": [{"name": "p", "workspace": "default", "namespace": DEFAULT_WORKSPACE_NAMESPACE}]}
    with pytest.raises(ConfigError, match=r"^kommander:projects\[0\]\.namespace: 'kommander-default-workspace' is a"):
        layout(raw)


@pytest.mark.parametrize(
    ("kubeconfig", "message"),
    [
        ("clusters: [canary-secret-1\n  : :", "is not a kubeconfig: not valid YAML (line 2)"),
        ("canary-secret-1", "is not a kubeconfig: needs non-empty lists clusters, users, contexts"),
        (
            "clusters: [{name: canary-secret-1}]\ncontexts: [{name: x}]\n",
            "is not a kubeconfig: needs non-empty lists clusters, users, contexts (missing: ['users'])",
        ),
        ("clusters: x\nusers: y\ncontexts: z\n", "is not a kubeconfig: needs non-empty lists"),
    ],
)
def test_bad_kubeconfig_names_the_key_without_echoing_it(kubeconfig: str, message: str) -> None:
    raw = {
        "workspaces": [
            {"name": "w", "clusters": [{"name": "ok", "kubeconfig": KC}, {"name": "c", "kubeconfig": kubeconfig}]}
        ]
    }
    with pytest.raises(ConfigError) as err:
        cfg(raw)
    assert str(err.value).startswith(f"kommander:workspaces[0].clusters[1].kubeconfig: {message}"), str(err.value)
    assert "canary-secret-1" not in str(err.value)


def test_workspace_may_not_take_the_default_workspace_namespace() -> None:
    with pytest.raises(ConfigError) as err:
        layout({"workspaces": [{"name": "w"}, {"name": DEFAULT_WORKSPACE_NAMESPACE}]})
    assert str(err.value) == (
        "kommander:workspaces[1].name: 'kommander-default-workspace' is the default workspace's namespace"
    )
