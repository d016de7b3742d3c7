"""HelmRepositories: the catalog's Flux HelmRepository objects, applied by Pulumi.

The objects are read from ``common/helm-repositories/*.yaml`` (the files the
management repository also carries) and their ``${helmMirrorURL:=<default>}``
substitution is evaluated here with the same function Flux's semantics are tested
with (:func:`components.catalog.substitute`): a configured mirror replaces every
default URL, no mirror keeps the defaults. Applying them directly (instead of
waiting for Flux to reconcile the Git repository) lets Gitea's HelmRelease use the
``gitea`` repository before Gitea itself exists.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.catalog import HELM_REPOSITORIES, CatalogError, helm_repositories
from components.k8s import Component, meta

#: Label on every HelmRepository of the catalog.
LABELS = {"kommander.d2iq.io/helm-repository": "catalog"}


def repository_objects(
    roots: Sequence[Path], mirror: str | None, ca_secret: str | None, flux_namespace: str
) -> dict[str, dict[str, Any]]:
    """The HelmRepository objects of the catalogs at ``roots``, by name, with the mirror and CA applied (pure).

    A name two catalogs define differently is a :class:`catalog.CatalogError`."""
    out: dict[str, dict[str, Any]] = {}
    for root in roots:
        found = helm_repositories(root, {"helmMirrorURL": mirror or "", "fluxNamespace": flux_namespace})
        for key, doc in found.items():
            obj = copy.deepcopy(doc)
            spec = obj.setdefault("spec", {})
            if str(spec.get("url", "")).startswith("oci://"):
                spec["type"] = "oci"
            if ca_secret:
                spec["certSecretRef"] = {"name": ca_secret}
            if key in out and out[key]["spec"] != spec:
                raise CatalogError(f"{HELM_REPOSITORIES}: HelmRepository {key!r} differs from this project's")
            out[key] = obj
    return out


@dataclass(frozen=True)
class HelmRepositoriesArgs:
    namespace: pulumi.Input[str]
    """The flux namespace (where HelmReleases' ``sourceRef`` looks)."""
    objects: Mapping[str, Mapping[str, Any]]
    """The HelmRepository objects by name (:func:`repository_objects`, from the stack plan)."""


class HelmRepositories(Component):
    """One Flux HelmRepository per object of the catalogs' ``common/helm-repositories``."""

    names: dict[str, str]
    """Repository name -> HelmRepository name, for ``sourceRef.name``."""
    repositories: dict[str, k8s.apiextensions.CustomResource]
    """The applied objects, by repository name."""

    def __init__(self, name: str, args: HelmRepositoriesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:HelmRepositories", name, opts)
        self.names = {key: str(obj["metadata"]["name"]) for key, obj in args.objects.items()}
        self.repositories = {
            key: k8s.apiextensions.CustomResource(
                f"{name}-{key}",
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata=meta(obj["metadata"]["name"], args.namespace, labels=LABELS),
                spec=obj["spec"],
                opts=self.child(),
            )
            for key, obj in args.objects.items()
        }
        self.register_outputs({"names": self.names})
