"""ChartMuseum and Gatekeeper: HelmReleases applied directly, adopted later by their AppDeployments.

Both are built from the catalog's own files (``applications/<app>/<version>/``):
the defaults ConfigMap and the HelmRelease, after the same substitution Flux does,
so the objects Pulumi applies are the objects the app's AppDeployment reconciles
later (same names, namespace, chart and values): adoption changes nothing.
The HelmRelease carries ``pulumi.com/waitFor: condition=Ready`` and
``pulumi.com/patchForce`` (kustomize-controller becomes a co-owner of its fields).

Gatekeeper also gets the multi-tenancy lockdown from ``bootstrap/gatekeeper/`` in
the management repository, applied by two Flux Kustomizations created after the
Gatekeeper HelmRelease is Ready: ``gatekeeper-templates`` (the ConstraintTemplate) and
``gatekeeper-constraints`` (``dependsOn`` the templates, since the constraint's kind only
exists once Gatekeeper has processed its template). Both ``wait``: each is Ready once what
it applied is; with ``wait`` Flux ignores ``healthChecks``, so they set none (Gatekeeper's
own readiness is what Pulumi waited for before creating them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import catalog as cat
from components import config, tenancy_plan
from components.k8s import (
    PATCH_FORCE,
    WAIT_FOR_TERMINATION,
    WAIT_READY,
    Component,
    management_kustomization,
    meta,
    repository_path,
)

BOOTSTRAP = "bootstrap/gatekeeper"
TEMPLATES = "gatekeeper-templates"
CONSTRAINTS = "gatekeeper-constraints"


def release_objects(
    app: str, version: str, variables: Mapping[str, str], root: Path = cat.DEFAULT_ROOT
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (defaults ConfigMap, HelmRelease) of a catalog app version, substituted (pure)."""
    base = cat.applications_dir(root)
    folder = base / app / version if base is not None and (base / app / version).is_dir() else None
    if folder is None:
        raise FileNotFoundError(f"{root}: no applications/{app}/{version}")
    docs = [cat.upgrade_api(d) for d in cat.rendered_documents(folder, variables)]
    by_kind = {d["kind"]: d for d in docs}
    missing = {"ConfigMap", "HelmRelease"} - set(by_kind)
    if missing:
        raise ValueError(f"applications/{app}/{version}: no {', '.join(sorted(missing))}")
    return by_kind["ConfigMap"], by_kind["HelmRelease"]


@dataclass(frozen=True)
class PlatformServiceArgs:
    namespace: pulumi.Input[str]
    """The kommander namespace (the release's namespace)."""
    objects: tuple[dict[str, Any], dict[str, Any]]
    """The (defaults ConfigMap, HelmRelease) of the app's version (:func:`release_objects`, in the stack plan)."""
    protect: bool = False
    """Protect the HelmRelease (its chart keeps data on a volume, as ChartMuseum's does)."""


class _CatalogRelease(Component):
    """A catalog app's defaults ConfigMap and HelmRelease, applied by Pulumi, waiting Ready."""

    release: k8s.apiextensions.CustomResource
    """The HelmRelease (Ready once the chart is installed)."""

    def _build(self, name: str, app: str, args: PlatformServiceArgs) -> None:
        defaults, release = args.objects
        labels = {tenancy_plan.LABEL_APPLICATION: app}
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-defaults",
            metadata=meta(defaults["metadata"]["name"], args.namespace, labels=labels),
            data=defaults["data"],
            opts=self.child(),
        )
        self.release = k8s.apiextensions.CustomResource(
            f"{name}-release",
            api_version=release["apiVersion"],
            kind=release["kind"],
            metadata=meta(
                release["metadata"]["name"], args.namespace, labels=labels, annotations={**WAIT_READY, **PATCH_FORCE}
            ),
            spec=release["spec"],
            opts=self.child(
                depends_on=[config_map],
                protect=args.protect,
                custom_timeouts=pulumi.CustomTimeouts(create="15m", update="15m"),
            ),
        )


class ChartMuseum(_CatalogRelease):
    """ChartMuseum (the platform's chart repository), before its AppDeployment adopts it."""

    def __init__(self, name: str, args: PlatformServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:ChartMuseum", name, opts)
        self._build(name, "chartmuseum", args)
        self.register_outputs({})


@dataclass(frozen=True, kw_only=True)
class GatekeeperArgs(PlatformServiceArgs):
    flux_namespace: pulumi.Input[str]
    """Where the bootstrap Kustomizations live (next to the ``management`` GitRepository)."""
    excluded_namespaces: tuple[str, ...] = field(default_factory=tuple)
    """Platform-owned namespaces the constraint does not apply to (platform, workspaces, kube-system)."""
    path_prefix: str = ""


def excluded_namespaces(cfg: config.StackConfig, layout: tenancy_plan.TenancyPlan) -> tuple[str, ...]:
    """Namespaces the service-account constraint skips: the platform's, kube-system and every workspace's (as the
    tenancy plan names them: the ``default`` workspace's is not ``default``)."""
    ns = cfg.namespaces
    return (ns.kommander, ns.flux, ns.certManager, "kube-system", *(w.namespace for w in layout.workspaces))


def bootstrap_spec(part: str, args: GatekeeperArgs) -> dict[str, Any]:
    """The Flux Kustomization spec applying ``bootstrap/gatekeeper/<part>`` (pure)."""
    spec = management_kustomization(
        repository_path(args.path_prefix, BOOTSTRAP, part),
        args.flux_namespace,
        timeout="5m",
        deletionPolicy=WAIT_FOR_TERMINATION,
        wait=True,
    )
    # `wait` health-checks what the Kustomization applies (Flux ignores `healthChecks` with it);
    # Gatekeeper's HelmRelease is Ready before either Kustomization exists (Pulumi waits for it).
    if part == "constraints":
        spec["dependsOn"] = [{"name": TEMPLATES, "namespace": args.flux_namespace}]
        spec["postBuild"] = {"substitute": {"platformNamespaces": json.dumps(list(args.excluded_namespaces))}}
    return spec


class Gatekeeper(_CatalogRelease):
    """Gatekeeper, then (once it is Ready) the Flux Kustomizations of its templates and constraints."""

    templates: k8s.apiextensions.CustomResource
    """The Flux Kustomization applying the ConstraintTemplate."""
    constraints: k8s.apiextensions.CustomResource
    """The Flux Kustomization applying the constraints (after the templates)."""

    def __init__(self, name: str, args: GatekeeperArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:Gatekeeper", name, opts)
        self._build(name, "gatekeeper", args)
        built: dict[str, k8s.apiextensions.CustomResource] = {}
        for part, object_name in (("templates", TEMPLATES), ("constraints", CONSTRAINTS)):
            built[part] = k8s.apiextensions.CustomResource(
                f"{name}-{part}",
                api_version="kustomize.toolkit.fluxcd.io/v1",
                kind="Kustomization",
                metadata=meta(object_name, args.flux_namespace, labels={tenancy_plan.LABEL_APPLICATION: "gatekeeper"}),
                spec=bootstrap_spec(part, args),
                opts=self.child(depends_on=[self.release, *built.values()]),
            )
        self.templates, self.constraints = built["templates"], built["constraints"]
        self.register_outputs({})
