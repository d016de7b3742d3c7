"""Tenancy, planned: names, namespaces and cluster selection of workspaces and projects (pure).

Everything the tenancy components create is decided here from the typed config, before
any resource is registered, so that names are valid and unique (or the config is
rejected with a message naming the key) and the tests can check them without mocks.

Where the Flux objects of a project live:

- the ``GitRepository`` (and its credentials Secret) in the project namespace;
- the ``Kustomization`` for ``host-cluster`` in the project namespace, run as the
  project's service account (Flux impersonates it);
- the ``Kustomization`` for a remote cluster in the *workspace* namespace, beside that
  cluster's kubeconfig Secret. Flux reads ``spec.kubeConfig.secretRef`` from the
  Kustomization's own namespace; placing it there means the kubeconfig exists in one
  Secret only and never in a namespace where a tenant can run a Pod that mounts it
  (CVE-2022-24817). Its ``sourceRef`` points at the GitRepository in the project
  namespace.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from components import config
from components.config import ConfigError

HOST_CLUSTER = "host-cluster"
DEFAULT_WORKSPACE = "default"
#: Namespace of the default workspace (``default`` is Kubernetes' own namespace).
DEFAULT_WORKSPACE_NAMESPACE = "kommander-default-workspace"
#: Key of the kubeconfig in a cluster's Secret (Kommander and Cluster API use it too).
KUBECONFIG_KEY = "value.yaml"

LABEL_WORKSPACE = "kommander.d2iq.io/workspace"
#: Carried by the platform's own application Kustomizations (the policy pack does not hold them to tenant rules).
LABEL_APPLICATION = "kommander.d2iq.io/application"
LABEL_PROJECT = "kommander.d2iq.io/project"
LABEL_CLUSTER = "kommander.d2iq.io/cluster"
LABEL_SOURCE = "kommander.d2iq.io/gitops-source"
#: Every cluster carries its own name as this label, so a selector can pick clusters by name.
LABEL_CLUSTER_NAME = "kommander.d2iq.io/cluster-name"

MAX_NAME = 63
#: The Flux GitRepository (flux namespace) of the management repository.
MANAGEMENT_SOURCE = "management"
#: Where the management repository holds the manifest of one namespace (``${namespace}``, ``${workspace}``).
NAMESPACE_BOOTSTRAP = "bootstrap/namespace"


def short_name(*parts: str, limit: int = MAX_NAME) -> str:
    """``parts`` joined with ``-``; over ``limit`` characters, cut and suffixed with a stable hash."""
    full = "-".join(parts)
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: limit - len(digest) - 1].rstrip('-')}-{digest}"


def kubeconfig_secret_name(cluster: str) -> str:
    return short_name(cluster, "kubeconfig")


def namespace_kustomization_name(cluster: str) -> str:
    """The Kustomization (in the workspace namespace) that creates the workspace namespace on an attached cluster."""
    return short_name(cluster, "workspace-namespace")


def service_account_name(project: str) -> str:
    """The project's reconciler identity (distinct per project, also when impersonated on remote clusters)."""
    return short_name(project, "reconciler")


def kustomization_name(project: str, source: str, cluster: str) -> str:
    return short_name(project, source, cluster)


def credentials_secret_name(source: str) -> str:
    return short_name(source, "git-credentials")


@dataclass(frozen=True)
class ClusterPlan:
    name: str
    labels: Mapping[str, str]
    """The cluster's labels plus :data:`LABEL_CLUSTER_NAME` (what selectors match)."""
    kubeconfig: SecretStr | None
    """``None`` for ``host-cluster``: its sources need no kubeconfig."""
    kubeconfig_secret: str | None
    namespace_kustomization: str | None = None
    """For an attached cluster: the Kustomization that creates its workspace namespace there (see
    :data:`NAMESPACE_BOOTSTRAP`); what deploys into that namespace on the cluster depends on it."""


@dataclass(frozen=True)
class WorkspacePlan:
    name: str
    namespace: str
    labels: Mapping[str, str]
    clusters: tuple[ClusterPlan, ...]


@dataclass(frozen=True)
class TargetPlan:
    """One source on one cluster: a Kustomization."""

    cluster: str
    name: str
    namespace: str
    kubeconfig_secret: str | None


@dataclass(frozen=True)
class SourcePlan:
    source: config.GitOpsSource
    repository: str
    credentials_secret: str | None
    targets: tuple[TargetPlan, ...]


@dataclass(frozen=True)
class ProjectPlan:
    name: str
    key: str
    """The config key of the project (``kommander:projects[2]``)."""
    workspace: str
    namespace: str
    labels: Mapping[str, str]
    service_account: str
    clusters: tuple[str, ...]
    sources: tuple[SourcePlan, ...]


@dataclass(frozen=True)
class TenancyPlan:
    workspaces: tuple[WorkspacePlan, ...]
    projects: tuple[ProjectPlan, ...]
    warnings: tuple[str, ...]


def _workspace(ws: config.Workspace) -> WorkspacePlan:
    default = ws.name == DEFAULT_WORKSPACE
    clusters = [
        ClusterPlan(
            c.name,
            {**c.labels, LABEL_CLUSTER_NAME: c.name},
            c.kubeconfig,
            kubeconfig_secret_name(c.name),
            namespace_kustomization_name(c.name),
        )
        for c in ws.clusters
    ]
    if default:
        clusters.insert(0, ClusterPlan(HOST_CLUSTER, {LABEL_CLUSTER_NAME: HOST_CLUSTER}, None, None))
    return WorkspacePlan(
        name=ws.name,
        namespace=DEFAULT_WORKSPACE_NAMESPACE if default else ws.name,
        labels={**ws.labels, LABEL_WORKSPACE: ws.name},
        clusters=tuple(clusters),
    )


def select(selector: config.LabelSelector, clusters: Sequence[ClusterPlan]) -> tuple[str, ...]:
    """Names of the clusters whose labels ``selector`` matches, in workspace order."""
    return tuple(c.name for c in clusters if selector.matches(c.labels))


def plan(workspaces: Sequence[config.Workspace], projects: Sequence[config.Project]) -> TenancyPlan:
    """Decide every name, namespace and cluster of the tenancy; reject collisions naming the key."""
    declared = list(workspaces)
    for i, declared_ws in enumerate(declared):
        if declared_ws.name == DEFAULT_WORKSPACE_NAMESPACE:
            raise ConfigError(
                f"{config.PROJECT}:workspaces[{i}].name: {declared_ws.name!r} is the default workspace's namespace"
            )
    if not any(w.name == DEFAULT_WORKSPACE for w in declared):
        declared.insert(0, config.Workspace(name=DEFAULT_WORKSPACE))
    planned = tuple(_workspace(w) for w in declared)
    by_name = {w.name: w for w in planned}
    taken: dict[tuple[str, str], str] = {}  # (namespace, Kustomization name) -> config key
    warnings: list[str] = []
    out: list[ProjectPlan] = []
    for i, proj in enumerate(projects):
        key = f"{config.PROJECT}:projects[{i}]"
        ws = by_name.get(proj.workspace)
        if ws is None:
            raise ConfigError(f"{key}.workspace: unknown workspace {proj.workspace!r}")
        namespace = proj.namespace or proj.name
        if namespace in {w.namespace for w in planned}:
            raise ConfigError(f"{key}.namespace: {namespace!r} is a workspace namespace")
        selected = select(proj.clusterSelector, ws.clusters)
        if not selected:
            warnings.append(
                f"{key}.clusterSelector: matches no cluster of workspace {ws.name!r}; "
                "its sources are deployed to no cluster"
            )
        clusters = {c.name: c for c in ws.clusters}
        sources = []
        for j, src in enumerate(proj.sources):
            targets = []
            for cluster in selected:
                remote = clusters[cluster].kubeconfig_secret
                target = TargetPlan(
                    cluster=cluster,
                    name=kustomization_name(proj.name, src.name, cluster),
                    namespace=ws.namespace if remote else namespace,
                    kubeconfig_secret=remote,
                )
                here = f"{key}.sources[{j}]"
                other = taken.setdefault((target.namespace, target.name), here)
                if other != here:
                    raise ConfigError(
                        f"{here}.name: Kustomization {target.name!r} in namespace {target.namespace!r} "
                        f"is also made by {other.removeprefix(config.PROJECT + ':')}; rename the project or source"
                    )
                targets.append(target)
            sources.append(
                SourcePlan(
                    source=src,
                    repository=src.name,
                    credentials_secret=credentials_secret_name(src.name) if src.credentials else None,
                    targets=tuple(targets),
                )
            )
        out.append(
            ProjectPlan(
                name=proj.name,
                key=key,
                workspace=ws.name,
                namespace=namespace,
                labels={**proj.labels, LABEL_WORKSPACE: ws.name, LABEL_PROJECT: proj.name},
                service_account=service_account_name(proj.name),
                clusters=selected,
                sources=tuple(sources),
            )
        )
    return TenancyPlan(planned, tuple(out), tuple(warnings))


def status(layout: TenancyPlan) -> dict[str, Any]:
    """What ``automation status`` watches, per project: its namespace, workspace and clusters,
    and per source ``<namespace>/<name>`` of its GitRepository and of its Kustomization per cluster."""
    return {
        proj.name: {
            "namespace": proj.namespace,
            "workspace": proj.workspace,
            "clusters": list(proj.clusters),
            "sources": {
                sp.source.name: {
                    "gitRepository": f"{proj.namespace}/{sp.repository}",
                    "kustomizations": {t.cluster: f"{t.namespace}/{t.name}" for t in sp.targets},
                }
                for sp in proj.sources
            },
        }
        for proj in layout.projects
    }
