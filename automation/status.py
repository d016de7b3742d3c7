"""Status of the tenants' GitOps sources on every cluster, read from the live clusters.

``expected`` is the stack output ``tenants`` (``Tenancy.status``)::

    {"<project>": {"namespace": "shop", "workspace": "edge", "clusters": ["edge-1"],
                   "sources": {"<source>": {"gitRepository": "shop/storefront",
                                            "kustomizations": {"edge-1": "edge/shop-storefront-edge-1"}}}}}

:func:`collect` reads, through a ``kubernetes.client.CustomObjectsApi`` (or anything with
the same methods), each source's GitRepository and each of its Kustomizations (their
``Ready`` condition, and ``Propagation``: whether the cluster runs the source's latest
revision), then the HelmReleases on each cluster. :func:`render_table` and
:func:`to_json` present the rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import yaml
from rich.table import Table

HOST_CLUSTER = "host-cluster"
KUSTOMIZATIONS = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
GIT_REPOSITORIES = ("source.toolkit.fluxcd.io", "v1", "gitrepositories")
HELM_RELEASES = ("helm.toolkit.fluxcd.io", "v2", "helmreleases")


class CustomObjects(Protocol):
    """The part of ``kubernetes.client.CustomObjectsApi`` this module uses."""

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str) -> Any: ...

    def list_cluster_custom_object(self, group: str, version: str, plural: str) -> Any: ...


@dataclass(frozen=True)
class Row:
    """One object's state on one cluster."""

    project: str
    source: str
    cluster: str
    kind: str
    namespace: str
    name: str
    ready: str
    """``True``, ``False``, ``Unknown`` (no condition yet), ``Missing`` or ``Unreachable``."""
    propagation: str
    """``True`` when the cluster runs the source's latest revision, else ``False``/``Unknown``."""
    revision: str
    message: str
    suspended: bool = False


def _status_code(exc: Exception) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _get(api: CustomObjects, gvp: tuple[str, str, str], ref: str) -> dict[str, Any] | None:
    namespace, _, name = ref.partition("/")
    group, version, plural = gvp
    try:
        obj = api.get_namespaced_custom_object(group, version, namespace, plural, name)
    except Exception as exc:
        if _status_code(exc) == 404:
            return None
        raise
    return dict(obj)


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def _source_rows(api: CustomObjects, project: str, source: str, spec: Mapping[str, Any]) -> list[Row]:
    repo = _get(api, GIT_REPOSITORIES, spec["gitRepository"])
    latest = str(((repo or {}).get("status") or {}).get("artifact", {}).get("revision", ""))
    rows = []
    for cluster, ref in sorted(spec["kustomizations"].items()):
        namespace, _, name = ref.partition("/")
        ks = _get(api, KUSTOMIZATIONS, ref)
        if ks is None:
            rows.append(
                Row(project, source, cluster, "Kustomization", namespace, name, "Missing", "False", "", "not found")
            )
            continue
        ready = _condition(ks, "Ready")
        applied = str((ks.get("status") or {}).get("lastAppliedRevision", ""))
        propagated = _condition(ks, "Propagation")
        if propagated is not None:
            propagation = str(propagated.get("status", "Unknown"))
        elif not latest:
            propagation = "Unknown"
        else:
            propagation = "True" if applied == latest else "False"
        rows.append(
            Row(
                project,
                source,
                cluster,
                "Kustomization",
                namespace,
                name,
                str(ready.get("status", "Unknown")) if ready else "Unknown",
                propagation,
                applied,
                str(ready.get("message", "")) if ready else "",
                bool((ks.get("spec") or {}).get("suspend", False)),
            )
        )
    return rows


def _helm_rows(cluster: str, api: CustomObjects | None, projects: Mapping[str, str]) -> list[Row]:
    if api is None:
        return [Row("", "", cluster, "HelmRelease", "", "", "Unreachable", "Unknown", "", "no client for this cluster")]
    group, version, plural = HELM_RELEASES
    try:
        listing = api.list_cluster_custom_object(group, version, plural)
    except Exception as exc:
        reason = f"HTTP {_status_code(exc)}" if _status_code(exc) else type(exc).__name__
        return [Row("", "", cluster, "HelmRelease", "", "", "Unreachable", "Unknown", "", reason)]
    rows = []
    for hr in sorted(listing.get("items", []), key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"])):
        ready = _condition(hr, "Ready")
        status = hr.get("status") or {}
        ns = hr["metadata"]["namespace"]
        rows.append(
            Row(
                projects.get(ns, ""),
                "",
                cluster,
                "HelmRelease",
                ns,
                hr["metadata"]["name"],
                str(ready.get("status", "Unknown")) if ready else "Unknown",
                "Unknown",
                str(status.get("lastAttemptedRevision", "")),
                str(ready.get("message", "")) if ready else "",
                bool((hr.get("spec") or {}).get("suspend", False)),
            )
        )
    return rows


def collect(
    api: CustomObjects, expected: Mapping[str, Any], clusters: Mapping[str, CustomObjects] | None = None
) -> list[Row]:
    """Every source's Kustomization per cluster, then every cluster's HelmReleases.

    ``api`` reads the management cluster (``host-cluster``); ``clusters`` maps attached
    clusters to clients of their own (see :func:`clients_from_kubeconfigs`); without
    one, a cluster's HelmReleases are reported ``Unreachable``.
    """
    rows: list[Row] = []
    names: set[str] = {HOST_CLUSTER}
    namespaces: dict[str, str] = {}
    for project, spec in sorted(expected.items()):
        namespaces[spec["namespace"]] = project
        names.update(spec.get("clusters", []))
        for source, src in sorted(spec.get("sources", {}).items()):
            rows += _source_rows(api, project, source, src)
    remote = clusters or {}
    for cluster in sorted(names, key=lambda c: (c != HOST_CLUSTER, c)):
        rows += _helm_rows(cluster, api if cluster == HOST_CLUSTER else remote.get(cluster), namespaces)
    return rows


def healthy(rows: list[Row]) -> bool:
    """True when every Kustomization is Ready (or suspended on purpose) and every HelmRelease Ready."""
    return all(r.ready == "True" or r.suspended for r in rows)


_STYLE = {"True": "green", "False": "red", "Missing": "red", "Unreachable": "yellow", "Unknown": "yellow"}


def render_table(rows: list[Row]) -> Table:
    table = Table(title="GitOps sources and Helm releases per cluster")
    for column in ("Project", "Source", "Cluster", "Kind", "Object", "Ready", "Propagation", "Revision", "Message"):
        table.add_column(column, overflow="fold")
    for r in rows:
        ready = f"[{_STYLE.get(r.ready, 'white')}]{r.ready}[/]" + (" (suspended)" if r.suspended else "")
        table.add_row(
            r.project or "-",
            r.source or "-",
            r.cluster,
            r.kind,
            f"{r.namespace}/{r.name}" if r.name else "-",
            ready,
            f"[{_STYLE.get(r.propagation, 'white')}]{r.propagation}[/]",
            r.revision or "-",
            r.message,
        )
    return table


def to_json(rows: list[Row]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2, sort_keys=True)


def clients_from_kubeconfigs(kubeconfigs: Mapping[str, str]) -> dict[str, CustomObjects]:
    """A CustomObjectsApi per attached cluster, from kubeconfig texts (nothing is written to disk)."""
    from kubernetes import client
    from kubernetes import config as kube_config

    return {
        name: client.CustomObjectsApi(kube_config.new_client_from_config_dict(yaml.safe_load(text)))
        for name, text in kubeconfigs.items()
    }
