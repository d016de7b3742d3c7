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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.catalog import DEFAULT_ROOT, HELM_REPOSITORIES, helm_repositories
from components.k8s import Component, meta

#: Label on every HelmRepository of the catalog.
LABELS = {"kommander.d2iq.io/helm-repository": "catalog"}


def repository_objects(
    root: Path, mirror: str | None, ca_secret: str | None, flux_namespace: str
) -> dict[str, dict[str, Any]]:
    """The HelmRepository objects of the catalog at ``root``, with the mirror and CA applied (pure)."""
    found = helm_repositories(root, {"helmMirrorURL": mirror or "", "fluxNamespace": flux_namespace})
    out: dict[str, dict[str, Any]] = {}
    for key, doc in found.items():
        obj = copy.deepcopy(doc)
        spec = obj.setdefault("spec", {})
        if str(spec.get("url", "")).startswith("oci://"):
            spec["type"] = "oci"
        if ca_secret:
            spec["certSecretRef"] = {"name": ca_secret}
        out[key] = obj
    return out


@dataclass(frozen=True)
class HelmRepositoriesArgs:
    namespace: pulumi.Input[str]
    """The flux namespace (where HelmReleases' ``sourceRef`` looks)."""
    flux_namespace: str
    """Its plain name, for the files' ``${fluxNamespace}``."""
    helm_mirror_url: str | None = None
    ca_secret: str | None = None
    """A Secret in the flux namespace whose ``ca.crt`` every repository trusts (air-gapped mirrors)."""
    root: Path = DEFAULT_ROOT
    """The catalog root holding ``common/helm-repositories`` (a checkout without one uses the project's)."""


class HelmRepositories(Component):
    """One Flux HelmRepository per file of ``common/helm-repositories``."""

    names: dict[str, str]
    """Repository key (file stem) -> HelmRepository name, for ``sourceRef.name``."""
    repositories: dict[str, k8s.apiextensions.CustomResource]
    """The applied objects, by repository key."""

    def __init__(self, name: str, args: HelmRepositoriesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:HelmRepositories", name, opts)
        root = args.root if (args.root / HELM_REPOSITORIES).is_dir() else DEFAULT_ROOT
        objects = repository_objects(root, args.helm_mirror_url, args.ca_secret, args.flux_namespace)
        if not objects:
            raise FileNotFoundError(f"no HelmRepository in {root / HELM_REPOSITORIES}")
        self.names = {key: str(obj["metadata"]["name"]) for key, obj in objects.items()}
        self.repositories = {
            key: k8s.apiextensions.CustomResource(
                f"{name}-{key}",
                api_version=obj["apiVersion"],
                kind=obj["kind"],
                metadata=meta(obj["metadata"]["name"], args.namespace, labels=LABELS),
                spec=obj["spec"],
                opts=self.child(),
            )
            for key, obj in objects.items()
        }
        self.register_outputs({"names": self.names})
