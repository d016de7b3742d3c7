"""Small pure helpers shared by the components: object metadata, options, mirrors."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pulumi

from components.tenancy_plan import MANAGEMENT_SOURCE, REQUESTED_AT

#: Annotation that makes the provider wait for a custom resource's Ready condition.
WAIT_READY = {"pulumi.com/waitFor": "condition=Ready"}
#: Flux Kustomization deletion policy for a pruning Kustomization on the management cluster: delete what it applied
#: and stay (finalizer) until those objects are gone, so nothing deleted after it (Flux itself) races them.
WAIT_FOR_TERMINATION = "WaitForTermination"
#: Server-side apply takes the fields this stack sets even where another field manager changed them behind its back
#: (``kubectl edit``, a script): without it the provider's apply fails with a conflict, so neither preview nor up
#: could report or repair the drift. Every object this stack owns carries it (pulumi-kubernetes: "patchForce").
PATCH_FORCE = {"pulumi.com/patchForce": "true"}
#: Label carried by everything this stack creates.
MANAGED_BY = {"app.kubernetes.io/managed-by": "kommander-pulumi"}


def wait_handled(request: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """Annotations asking Flux to reconcile an object for ``request`` (a token, e.g. the commit just published) and
    making the provider wait until Flux has: ``Ready`` for the current generation and ``request`` recorded as
    ``status.lastHandledReconcileAt``, what ``flux reconcile`` waits for.

    ``condition=Ready`` alone is not enough here: a new request changes only the annotation, not the generation, so
    the object is already Ready (from the previous request) when the provider starts waiting. The provider then records
    the object before Flux took the request, or an informer's older copy of it (older annotation), which the next
    preview reports as a change."""
    handled = pulumi.Output.from_input(request).apply(
        lambda token: json.dumps(["condition=Ready", f"jsonpath={{.status.lastHandledReconcileAt}}={token}"])
    )
    return {"pulumi.com/waitFor": handled, REQUESTED_AT: request}


def repository_path(path_prefix: str, *parts: str) -> str:
    """A folder of the management repository, under ``gitea.pathPrefix``, as a Flux Kustomization path (``./a/b``)."""
    return "./" + "/".join(p for p in (path_prefix.strip("/"), *parts) if p)


def management_kustomization(
    path: str, flux_namespace: pulumi.Input[str], *, timeout: str, prune: bool = True, **fields: Any
) -> dict[str, Any]:
    """The spec of a Flux Kustomization applying ``path`` (:func:`repository_path`) of the management repository,
    reconciled every 10 minutes and retried every minute; ``fields`` add or override the rest (pure)."""
    return {
        "interval": "10m",
        "retryInterval": "1m",
        "timeout": timeout,
        "prune": prune,
        "path": path,
        "sourceRef": {"kind": "GitRepository", "name": MANAGEMENT_SOURCE, "namespace": flux_namespace},
        **fields,
    }


def mirrored(url: str, mirror: str | None) -> str:
    """A chart repository URL through the Helm mirror, when one is configured."""
    return mirror if mirror else url


def chart_release_args(
    chart: str,
    version: str,
    upstream: str,
    mirror: str | None,
    source: str | None = None,
    ca_file: str | None = None,
) -> dict[str, Any]:
    """``chart``, ``version`` and ``repository_opts`` of a ``helm.v3.Release`` for one chart.

    ``source`` (the ``charts.<name>`` config) wins: a local chart directory or archive is installed as it is; a
    repository URL replaces the upstream one. Otherwise the chart comes from ``upstream`` through the mirror. An
    ``oci://`` repository is not a Helm repository: its chart is named ``oci://<repository>/<chart>``, without
    repository options. ``ca_file`` (``helmMirrorCaFile``) is trusted for a mirror or a ``charts.<name>``
    https repository, not for the public upstream one.
    """
    import pulumi_kubernetes as k8s

    if source and not source.startswith(("http://", "https://", "oci://")):
        return {"chart": source}
    repo = source or mirrored(upstream, mirror)
    if repo.startswith("oci://"):
        return {"chart": f"{repo.rstrip('/')}/{chart}", "version": version}
    trusted = ca_file if repo != upstream else None
    return {
        "chart": chart,
        "version": version,
        "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=repo, ca_file=trusted),
    }


def platform_release(
    resource: str,
    release: str,
    namespace: pulumi.Input[str],
    chart: tuple[str, str, str],
    values: Mapping[str, Any],
    *,
    mirror: str | None = None,
    source: str | None = None,
    ca_file: str | None = None,
    opts: pulumi.ResourceOptions | None = None,
    **extra: Any,
) -> Any:
    """A ``helm.sh/v3`` Release of one of the platform's own charts (``chart``: name, version, upstream
    repository), through the mirror or ``charts.<name>`` (:func:`chart_release_args`); it waits for its
    workloads, cleans up a failed install and keeps five revisions."""
    import pulumi_kubernetes as k8s

    name, version, upstream = chart
    return k8s.helm.v3.Release(
        resource,
        k8s.helm.v3.ReleaseArgs(
            name=release,
            namespace=namespace,
            **chart_release_args(name, version, upstream, mirror, source, ca_file),
            values=dict(values),
            cleanup_on_fail=True,
            max_history=5,
            **extra,
        ),
        opts=opts,
    )


def meta(
    name: str, namespace: pulumi.Input[str] | None = None, labels: dict[str, str] | None = None, **extra: Any
) -> Any:
    """Object metadata: the name, namespace, the managed-by label plus ``labels``, and e.g. ``annotations``."""
    out: dict[str, Any] = {"name": name, "labels": {**MANAGED_BY, **(labels or {})}}
    if namespace is not None:
        out["namespace"] = namespace
    out.update({k: v for k, v in extra.items() if v})
    out["annotations"] = {**PATCH_FORCE, **(out.get("annotations") or {})}
    return out


class Component(pulumi.ComponentResource):
    """A ComponentResource whose ``depends_on`` reaches its children.

    The engine orders a component's children only by their own dependencies, so an
    explicit ``depends_on`` on a component would not hold its children back. Every
    child built with :meth:`child` carries the component's dependencies instead, and
    the component registers without them: they order nothing on it (a component is
    neither created nor deleted), and each child, which needs its parent's URN, would
    otherwise wait for them twice (for the component's registration, then its own).
    """

    def __init__(self, type_: str, name: str, opts: pulumi.ResourceOptions | None) -> None:
        deps = opts.depends_on if opts is not None and opts.depends_on is not None else []
        self._after: list[pulumi.Resource] = list(deps) if isinstance(deps, (list, tuple)) else [deps]  # type: ignore[list-item]
        own = copy.copy(opts) if opts is not None else None
        if own is not None:
            own.depends_on = None
        super().__init__(type_, name, None, own)

    def child(self, *, depends_on: list[pulumi.Resource] | None = None, **kwargs: Any) -> pulumi.ResourceOptions:
        """Options for a child: parented (the provider is inherited) and after the component's dependencies."""
        return pulumi.ResourceOptions(parent=self, depends_on=[*self._after, *(depends_on or [])], **kwargs)


def object_name(res: pulumi.CustomResource) -> pulumi.Output[str]:
    """``metadata.name`` of an applied object, as an Output that depends on the object."""
    metadata: pulumi.Output[Any] = res.metadata  # type: ignore[attr-defined]
    return metadata.apply(lambda m: str(m["name"]))
