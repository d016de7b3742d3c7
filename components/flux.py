"""Flux: the GitOps controllers and their CRDs, installed by Pulumi itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import config
from components.k8s import Component, platform_release

CHART_REPO = "https://fluxcd-community.github.io/helm-charts"
#: The controllers the platform runs; image automation and notifications are not used.
CONTROLLERS = ("sourceController", "kustomizeController", "helmController")
#: API groups whose CRDs the chart installs (what custom resources must wait for).
CRD_GROUPS = ("source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io")


@dataclass(frozen=True)
class FluxArgs:
    namespace: pulumi.Input[str]
    version: str
    settings: config.Flux
    helm_mirror_url: str | None = None
    chart_source: str | None = None
    """``charts.<name>``: a local chart or a repository URL instead of the upstream one."""
    ca_file: str | None = None
    """``helmMirrorCaFile``: a CA bundle the Helm client trusts for the mirror."""


def controller_values(settings: config.Flux) -> dict[str, Any]:
    """Helm values of the flux2 chart for the tuned controllers (pure).

    The chart's keys: ``logLevel`` and ``watchAllNamespaces`` (every controller), and
    ``<controller>.container.additionalArgs`` (appended to that controller's arguments).
    """
    resources = settings.resources.model_dump(exclude_none=True)
    args = [f"--concurrent={settings.concurrency}", f"--requeue-dependency={settings.requeueDependency}"]
    values: dict[str, Any] = {
        "installCRDs": True,
        "logLevel": settings.logLevel,
        "watchAllNamespaces": True,
        "imageAutomationController": {"create": False},
        "imageReflectionController": {"create": False},
        "notificationController": {"create": False},
        "policies": {"create": True},
    }
    for name in CONTROLLERS:
        values[name] = {
            "create": True,
            "resources": resources,
            "container": {"additionalArgs": list(args) if name != "sourceController" else [args[0]]},
        }
    return values


class Flux(Component):
    """The Flux controllers at a pinned chart version, with their CRDs."""

    release: k8s.helm.v3.Release
    """The Helm release that installs the controllers and the CRDs; custom resources depend on it."""
    version: pulumi.Output[str]
    """The installed chart version."""

    def __init__(self, name: str, args: FluxArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:Flux", name, opts)
        # the release waits for every controller to be ready (no skip_await)
        self.release = platform_release(
            f"{name}-controllers",
            "flux",
            args.namespace,
            ("flux2", args.version, CHART_REPO),
            controller_values(args.settings),
            mirror=args.helm_mirror_url,
            source=args.chart_source,
            ca_file=args.ca_file,
            opts=self.child(),
            atomic=False,
        )
        self.version = self.release.version.apply(lambda v: v or args.version)
        self.register_outputs({"version": self.version})
