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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

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
#: Flux's reconcile request: a new value makes the controller reconcile the object at once and record the value as
#: ``status.lastHandledReconcileAt`` (fluxcd/pkg ``meta.ReconcileRequestAnnotation``); ``flux reconcile`` sets it.
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
#: Where the management repository holds the manifest of one namespace (``${namespace}``, ``${workspace}``).
NAMESPACE_BOOTSTRAP = "bootstrap/namespace"
#: The Role and RoleBinding in a workspace namespace that let kustomize-controller read the kubeconfigs.
KUBECONFIG_READER = "kommander-kubeconfig-reader"
#: The name :class:`components.management_cluster.ManagementCluster` gives the ``Tenancy`` component.
TENANCY_COMPONENT = "kommander-tenancy"

#: Pulumi type tokens of what the tenancy registers (the URN type is the chain from the ``Tenancy`` component).
T_WORKSPACE = "kommander:index:Workspace"
T_PROJECT = "kommander:index:Project"
T_SOURCE = "kommander:index:GitOpsSource"
T_NAMESPACE = "kubernetes:core/v1:Namespace"
T_SECRET = "kubernetes:core/v1:Secret"
T_SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
T_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
T_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
T_GIT_REPOSITORY = "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository"
T_KUSTOMIZATION = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"


class PlannedObject(NamedTuple):
    """A Kubernetes object the tenancy creates on the management cluster."""

    kind: str
    """``Namespace``, ``Secret``, ``ServiceAccount``, ``Role``, ``RoleBinding``, ``GitRepository`` or
    ``Kustomization``."""
    namespace: str
    """Empty for a cluster-scoped object (``Namespace``)."""
    name: str
    key: str
    """The config key that makes it (``kommander:projects[0].sources[1]``)."""


class PlannedResource(NamedTuple):
    """A Pulumi resource the tenancy registers: its URN is ``<parent types>$<type>::<name>``."""

    type: str
    """The type chain below the ``Tenancy`` component (``kommander:index:Workspace$kubernetes:core/v1:Secret``)."""
    name: str
    key: str


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
    key: str = ""
    """The config key of the cluster (``kommander:workspaces[0].clusters[1]``); empty for ``host-cluster``."""


@dataclass(frozen=True)
class WorkspacePlan:
    name: str
    namespace: str
    labels: Mapping[str, str]
    clusters: tuple[ClusterPlan, ...]
    key: str = f"{config.PROJECT}:workspaces"
    """The config key of the workspace (``kommander:workspaces`` for the implicit default workspace)."""


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
    identity_namespace: str | None = None
    """The workspace namespace, when a source reaches an attached cluster: the Kustomizations there live in it
    and impersonate ``system:serviceaccount:<it>:<service_account>``, and kustomize-controller prunes a deleted
    one's objects only when that ServiceAccount exists there on the management cluster (it is kept there, with
    no permissions)."""


@dataclass(frozen=True)
class TenancyPlan:
    workspaces: tuple[WorkspacePlan, ...]
    projects: tuple[ProjectPlan, ...]
    warnings: tuple[str, ...]

    def objects(self) -> list[PlannedObject]:
        """Every Kubernetes object the tenancy creates on the management cluster, with the key that makes it."""
        return list(self._objects())

    def _objects(self) -> Iterator[PlannedObject]:
        for ws in self.workspaces:
            yield PlannedObject("Namespace", "", ws.namespace, ws.key)
            remote = [c for c in ws.clusters if c.kubeconfig_secret is not None]
            for c in remote:
                yield PlannedObject("Secret", ws.namespace, str(c.kubeconfig_secret), c.key)
                if c.namespace_kustomization is not None:
                    yield PlannedObject("Kustomization", ws.namespace, c.namespace_kustomization, c.key)
            if remote:
                yield PlannedObject("Role", ws.namespace, KUBECONFIG_READER, ws.key)
                yield PlannedObject("RoleBinding", ws.namespace, KUBECONFIG_READER, ws.key)
        for proj in self.projects:
            yield PlannedObject("Namespace", "", proj.namespace, proj.key)
            for kind in ("ServiceAccount", "Role", "RoleBinding"):
                yield PlannedObject(kind, proj.namespace, proj.service_account, proj.key)
            if proj.identity_namespace is not None:
                yield PlannedObject("ServiceAccount", proj.identity_namespace, proj.service_account, proj.key)
            for j, sp in enumerate(proj.sources):
                key = f"{proj.key}.sources[{j}]"
                if sp.credentials_secret is not None:
                    yield PlannedObject("Secret", proj.namespace, sp.credentials_secret, key)
                yield PlannedObject("GitRepository", proj.namespace, sp.repository, key)
                for t in sp.targets:
                    yield PlannedObject("Kustomization", t.namespace, t.name, key)

    def resources(self, component: str = TENANCY_COMPONENT) -> list[PlannedResource]:
        """Every Pulumi resource the ``Tenancy`` component named ``component`` registers below itself."""
        return list(self._resources(component))

    def _resources(self, component: str) -> Iterator[PlannedResource]:
        for ws in self.workspaces:
            name = f"{component}-ws-{ws.name}"
            yield PlannedResource(T_WORKSPACE, name, ws.key)
            yield PlannedResource(f"{T_WORKSPACE}${T_NAMESPACE}", f"{name}-namespace", ws.key)
            remote = [c for c in ws.clusters if c.kubeconfig_secret is not None]
            for c in remote:
                yield PlannedResource(f"{T_WORKSPACE}${T_SECRET}", f"{name}-cluster-{c.name}-kubeconfig", c.key)
                if c.namespace_kustomization is not None:
                    kind = f"{T_WORKSPACE}${T_KUSTOMIZATION}"
                    yield PlannedResource(kind, f"{name}-cluster-{c.name}-namespace", c.key)
            if remote:
                yield PlannedResource(f"{T_WORKSPACE}${T_ROLE}", f"{name}-kubeconfig-reader", ws.key)
                yield PlannedResource(f"{T_WORKSPACE}${T_ROLE_BINDING}", f"{name}-kubeconfig-reader", ws.key)
        for proj in self.projects:
            name = f"{component}-project-{proj.name}"
            yield PlannedResource(T_PROJECT, name, proj.key)
            yield PlannedResource(f"{T_PROJECT}${T_NAMESPACE}", f"{name}-namespace", proj.key)
            for kind in (T_SERVICE_ACCOUNT, T_ROLE, T_ROLE_BINDING):
                yield PlannedResource(f"{T_PROJECT}${kind}", f"{name}-reconciler", proj.key)
            if proj.identity_namespace is not None:
                yield PlannedResource(f"{T_PROJECT}${T_SERVICE_ACCOUNT}", f"{name}-remote-identity", proj.key)
            for j, sp in enumerate(proj.sources):
                key = f"{proj.key}.sources[{j}]"
                name = f"{component}-source-{proj.name}.{sp.source.name}"
                yield PlannedResource(T_SOURCE, name, key)
                if sp.credentials_secret is not None:
                    yield PlannedResource(f"{T_SOURCE}${T_SECRET}", f"{name}-credentials", key)
                yield PlannedResource(f"{T_SOURCE}${T_GIT_REPOSITORY}", f"{name}-repository", key)
                for t in sp.targets:
                    yield PlannedResource(f"{T_SOURCE}${T_KUSTOMIZATION}", f"{name}-{t.cluster}", key)


def _short_key(key: str) -> str:
    return key.removeprefix(config.PROJECT + ":")


def check_collisions(layout: TenancyPlan) -> None:
    """Two keys that make one object (kind, namespace, name) or one Pulumi resource (type, name): a ConfigError
    naming both (a duplicate URN fails the engine mid-``up``; a duplicate object makes two owners fight)."""
    objects: dict[tuple[str, str, str], str] = {}
    for obj in layout.objects():
        other = objects.setdefault((obj.kind, obj.namespace, obj.name), obj.key)
        if other != obj.key:
            where = f" in namespace {obj.namespace!r}" if obj.namespace else ""
            raise ConfigError(
                f"{obj.key}.name: {obj.kind} {obj.name!r}{where} is also made by {_short_key(other)}; "
                "rename one of them"
            )
    resources: dict[tuple[str, str], str] = {}
    for res in layout.resources():
        other = resources.setdefault((res.type, res.name), res.key)
        if other != res.key:
            kind = res.type.rpartition("$")[2]
            raise ConfigError(
                f"{res.key}.name: Pulumi resource {res.name!r} ({kind}) is also made by {_short_key(other)}; "
                "rename one of them"
            )


def _workspace(ws: config.Workspace, key: str) -> WorkspacePlan:
    default = ws.name == DEFAULT_WORKSPACE
    clusters = [
        ClusterPlan(
            c.name,
            {**c.labels, LABEL_CLUSTER_NAME: c.name},
            c.kubeconfig,
            kubeconfig_secret_name(c.name),
            namespace_kustomization_name(c.name),
            key=f"{key}.clusters[{j}]",
        )
        for j, c in enumerate(ws.clusters)
    ]
    if default:
        clusters.insert(0, ClusterPlan(HOST_CLUSTER, {LABEL_CLUSTER_NAME: HOST_CLUSTER}, None, None))
    return WorkspacePlan(
        name=ws.name,
        namespace=DEFAULT_WORKSPACE_NAMESPACE if default else ws.name,
        labels={**ws.labels, LABEL_WORKSPACE: ws.name},
        clusters=tuple(clusters),
        key=key,
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
    keys = [f"{config.PROJECT}:workspaces[{i}]" for i in range(len(declared))]
    if not any(w.name == DEFAULT_WORKSPACE for w in declared):
        declared.insert(0, config.Workspace(name=DEFAULT_WORKSPACE))
        keys.insert(0, f"{config.PROJECT}:workspaces")
    planned = tuple(_workspace(w, k) for w, k in zip(declared, keys, strict=True))
    _unique_clusters(planned)
    by_name = {w.name: w for w in planned}
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
        for src in proj.sources:
            targets = []
            for cluster in selected:
                remote = clusters[cluster].kubeconfig_secret
                target = TargetPlan(
                    cluster=cluster,
                    name=kustomization_name(proj.name, src.name, cluster),
                    namespace=ws.namespace if remote else namespace,
                    kubeconfig_secret=remote,
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
                identity_namespace=ws.namespace
                if any(t.kubeconfig_secret for sp in sources for t in sp.targets)
                else None,
            )
        )
    layout = TenancyPlan(planned, tuple(out), tuple(warnings))
    check_collisions(layout)
    return layout


def _unique_clusters(workspaces: Sequence[WorkspacePlan]) -> None:
    """A cluster name is unique across workspaces: ``apps.<app>.clusters`` names clusters by name alone."""
    seen: dict[str, str] = {}
    for ws in workspaces:
        for c in ws.clusters:
            if c.name == HOST_CLUSTER:
                continue
            other = seen.setdefault(c.name, c.key)
            if other != c.key:
                raise ConfigError(
                    f"{c.key}.name: cluster {c.name!r} is also in {_short_key(other).rpartition('.')[0]}; "
                    "cluster names are unique across workspaces (apps.<app>.clusters names clusters by name)"
                )


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
