"""CatalogRepositories: catalog GitRepositories, propagated to matching workspaces and projects.

Each ``kommander:catalogs`` entry becomes a Flux GitRepository in the kommander
namespace (the management cluster's copy, URL as given) carrying Kommander's
catalog labels, and a copy in every workspace namespace and project namespace whose
labels match the catalog's ``selector`` (an empty selector matches all).

URL rule for the copies (what Kommander federates to attached clusters): a URL whose
host only resolves inside the management cluster (``*.svc``, ``*.svc.cluster.local``,
``*.cluster.local``, ``localhost``, ``127.0.0.1``) is rewritten to
``https://<ingress.domain><path>`` (the platform's ingress); the port is dropped. Any
other URL, and every URL when ingress is disabled, is kept. Nothing this stack applies
routes the ingress to the in-cluster Gitea (its Service has no ingress), so a rewritten
URL is reachable only where the operator serves the repository there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse, urlunparse

import pulumi
import pulumi_kubernetes as k8s

from components import config, tenancy_plan
from components.k8s import Component, meta

CATALOG_LABELS = {
    "kommander.d2iq.io/gitrepository-type": "catalog",
    "kommander.d2iq.io/gitapps-gitrepository-type": "catalog",
}
CATALOG_NAME_LABEL = "kommander.d2iq.io/catalog"
#: The label naming the workspace or project a catalog copy was made for.
TARGET_LABELS = {"workspace": tenancy_plan.LABEL_WORKSPACE, "project": tenancy_plan.LABEL_PROJECT}
_IN_CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local")


def reachable_url(url: str, domain: str | None) -> str:
    """The URL attached clusters use for a catalog (see the module docstring) (pure)."""
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    in_cluster = host in ("localhost", "127.0.0.1") or host.endswith(_IN_CLUSTER_SUFFIXES)
    if not domain or not in_cluster or parsed.scheme not in ("http", "https"):
        return url
    return urlunparse(("https", domain, parsed.path, "", parsed.query, ""))


@dataclass(frozen=True)
class CatalogTarget:
    """A workspace or project namespace catalogs may be copied to."""

    kind: str
    """``workspace`` or ``project``."""
    name: str
    namespace: str
    labels: Mapping[str, str]


def catalog_targets(layout: tenancy_plan.TenancyPlan) -> list[CatalogTarget]:
    """Every workspace and project namespace of the tenancy plan (the implicit ``default`` workspace included),
    with the labels selectors match against (pure)."""
    out = [CatalogTarget("workspace", w.name, w.namespace, w.labels) for w in layout.workspaces]
    out += [CatalogTarget("project", p.name, p.namespace, p.labels) for p in layout.projects]
    return out


def placements(
    catalogs: Sequence[config.Catalog], targets: Sequence[CatalogTarget]
) -> dict[str, tuple[CatalogTarget, ...]]:
    """Catalog name -> the workspace and project namespaces its selector matches (pure)."""
    return {c.name: tuple(t for t in targets if c.selector.matches(t.labels)) for c in catalogs}


def git_repository_spec(catalog: config.Catalog, url: str) -> dict[str, Any]:
    ref = catalog.ref.model_dump(exclude_none=True)
    return {"interval": catalog.interval, "timeout": "1m", "url": url, "ref": ref}


@dataclass(frozen=True)
class CatalogRepositoriesArgs:
    catalogs: tuple[config.Catalog, ...]
    namespace: pulumi.Input[str]
    """The kommander namespace (the management cluster's copies)."""
    placements: Mapping[str, tuple[CatalogTarget, ...]] = field(default_factory=dict)
    """Catalog name -> where its copies go (:func:`placements`, in the stack plan)."""
    domain: str | None = None
    """``ingress.domain`` when ingress is enabled (the URL rewrite), else None."""
    namespaces: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Workspace/project namespace -> its name as an Output: a copy is created after its Namespace."""


class CatalogRepositories(Component):
    """The catalog GitRepositories and their copies in matching workspace and project namespaces."""

    placements: dict[str, list[str]]
    """Catalog name -> namespaces it was copied to (besides the kommander namespace)."""

    def __init__(self, name: str, args: CatalogRepositoriesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:CatalogRepositories", name, opts)
        self.placements = {}
        for catalog in args.catalogs:
            labels = {**CATALOG_LABELS, CATALOG_NAME_LABEL: catalog.name}
            k8s.apiextensions.CustomResource(
                f"{name}-{catalog.name}",
                api_version="source.toolkit.fluxcd.io/v1",
                kind="GitRepository",
                metadata=meta(catalog.name, args.namespace, labels=labels),
                spec=git_repository_spec(catalog, catalog.url),
                opts=self.child(),
            )
            matching = args.placements.get(catalog.name, ())
            self.placements[catalog.name] = [t.namespace for t in matching]
            for target in matching:
                k8s.apiextensions.CustomResource(
                    f"{name}-{catalog.name}-{target.kind}-{target.name}",
                    api_version="source.toolkit.fluxcd.io/v1",
                    kind="GitRepository",
                    metadata=meta(
                        catalog.name,
                        args.namespaces[target.namespace] if args.namespaces else target.namespace,
                        labels={**labels, TARGET_LABELS[target.kind]: target.name},
                    ),
                    spec=git_repository_spec(catalog, reachable_url(catalog.url, args.domain)),
                    opts=self.child(),
                )
        self.register_outputs({"placements": self.placements})
