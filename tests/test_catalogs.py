"""CatalogRepositories: catalog GitRepositories, copied to matching workspaces and projects, URLs rewritten."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components import config, stack_plan, tenancy_plan
from components.catalogs import (
    CATALOG_LABELS,
    CatalogRepositories,
    CatalogRepositoriesArgs,
    catalog_targets,
    placements,
    reachable_url,
)
from components.management_cluster import ManagementCluster

GIT = "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository"
KUBECONFIG = yaml.safe_dump(
    {
        "clusters": [{"name": "c", "cluster": {"server": "https://e.example.com"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
)
RAW: dict[str, Any] = {
    "ingress": {"domain": "k.example.com"},
    "workspaces": [
        {"name": "edge", "labels": {"tier": "edge"}, "clusters": [{"name": "e1", "kubeconfig": KUBECONFIG}]},
        {"name": "core", "labels": {"tier": "core"}},
    ],
    "projects": [
        {"name": "shop", "workspace": "edge", "labels": {"team": "shop"}},
        {"name": "ops", "workspace": "core", "namespace": "ops-ns", "labels": {"team": "ops", "tier": "edge"}},
    ],
    "catalogs": [
        {
            "name": "dkp-catalog",
            "url": "http://gitea-http.kommander.svc.cluster.local:3000/kommander/catalog.git",
            "ref": {"tag": "v1.0.0"},
            "selector": {"matchLabels": {"tier": "edge"}},
        },
        {"name": "everywhere", "url": "https://github.com/example/catalog.git"},
    ],
}


def parse(raw: dict[str, Any]) -> config.StackConfig:
    return config.parse(raw, secret_keys=["workspaces"])


@pytest.mark.parametrize(
    ("url", "domain", "expected"),
    [
        ("http://gitea-http.kommander.svc.cluster.local:3000/a/b.git", "k.io", "https://k.io/a/b.git"),
        ("http://gitea-http.kommander.svc:3000/a/b.git", "k.io", "https://k.io/a/b.git"),
        ("http://localhost:3000/a.git", "k.io", "https://k.io/a.git"),
        ("https://github.com/a/b.git", "k.io", "https://github.com/a/b.git"),
        ("http://gitea-http.kommander.svc:3000/a.git", None, "http://gitea-http.kommander.svc:3000/a.git"),
        ("ssh://git@gitea.kommander.svc/a.git", "k.io", "ssh://git@gitea.kommander.svc/a.git"),
    ],
)
def test_reachable_url(url: str, domain: str | None, expected: str) -> None:
    assert reachable_url(url, domain) == expected


def test_copies_follow_selectors_and_rewrite_urls(program) -> None:
    cfg = parse(RAW)

    def fn() -> None:
        CatalogRepositories(
            "cat",
            CatalogRepositoriesArgs(
                tuple(cfg.catalogs),
                "kommander",
                placements(cfg.catalogs, catalog_targets(tenancy_plan.plan(cfg.workspaces, cfg.projects))),
                "k.example.com",
            ),
        )

    graph = program(fn)
    repos = {r.name: r for r in graph.of_type(GIT)}
    assert set(repos) == {
        "cat-dkp-catalog",
        "cat-dkp-catalog-workspace-edge",
        "cat-dkp-catalog-project-ops",
        "cat-everywhere",
        "cat-everywhere-workspace-edge",
        "cat-everywhere-workspace-core",
        "cat-everywhere-workspace-default",
        "cat-everywhere-project-shop",
        "cat-everywhere-project-ops",
    }
    main = repos["cat-dkp-catalog"].inputs
    assert main["metadata"]["namespace"] == "kommander"
    assert main["spec"]["url"] == RAW["catalogs"][0]["url"], "the management cluster reaches the service"
    assert main["spec"]["ref"] == {"tag": "v1.0.0"}
    copy = repos["cat-dkp-catalog-project-ops"].inputs
    assert copy["metadata"]["namespace"] == "ops-ns" and copy["metadata"]["name"] == "dkp-catalog"
    assert copy["spec"]["url"] == "https://k.example.com/kommander/catalog.git"
    assert copy["metadata"]["labels"]["kommander.d2iq.io/project"] == "ops"
    for repo in repos.values():
        labels = repo.inputs["metadata"]["labels"]
        assert CATALOG_LABELS.items() <= labels.items()
        assert labels["kommander.d2iq.io/catalog"] == repo.inputs["metadata"]["name"]
    assert repos["cat-everywhere-workspace-core"].inputs["spec"]["url"] == "https://github.com/example/catalog.git"


def test_wired_after_flux_and_tenancy(program) -> None:
    graph = program(lambda: ManagementCluster("kommander", stack_plan.build(parse(RAW))))
    installer = graph.one("kubernetes:helm.sh/v3:Release", "kommander-flux-controllers")
    repos = [r for r in graph.of_type(GIT) if r.parent == graph.one("kommander:index:CatalogRepositories").urn]
    assert len(repos) == 9  # the everywhere catalog also reaches the implicit default workspace
    namespaces = {r.inputs["metadata"]["name"]: r for r in graph.of_type("kubernetes:core/v1:Namespace") if r.custom}
    for repo in repos:
        assert graph.depends_on(repo, installer)
        ns = repo.inputs["metadata"]["namespace"]
        assert graph.depends_on(repo, namespaces[ns]), f"{repo.name} must wait for namespace {ns}"


def test_no_catalogs_no_repositories(program) -> None:
    graph = program(lambda: ManagementCluster("kommander", stack_plan.build(config.parse({}))))
    assert not graph.children(graph.one("kommander:index:CatalogRepositories"))


def test_duplicate_catalog_is_a_config_error() -> None:
    raw = {"catalogs": [{"name": "a", "url": "https://g.example.com/a.git"}] * 2}
    with pytest.raises(config.ConfigError, match=r"kommander:catalogs\[1\]\.name: duplicate name 'a'"):
        config.parse(raw)
