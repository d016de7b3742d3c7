"""Workspaces, attached clusters, projects and their GitOps sources fanned out with Flux.

``Tenancy`` composes, from the typed config and :func:`components.tenancy_plan.plan`:

- ``Workspace``: a labelled namespace; where its clusters have kubeconfigs, a Role that
  lets only Flux's kustomize-controller read those Secrets;
- ``AttachedCluster``: the cluster's kubeconfig (secret config) as the Secret
  ``<cluster>-kubeconfig`` (key ``value.yaml``) in the workspace namespace; the
  management cluster is ``host-cluster`` of the default workspace, without a Secret;
- ``Project``: a labelled namespace and the service account its Kustomizations run as,
  with a Role limited to everyday workload kinds in that namespace;
- ``GitOpsSource``: a credentials Secret (when credentials are configured), a
  GitRepository, and one Kustomization per selected cluster.

Multi-cluster delivery is Flux's own ``spec.kubeConfig`` (no KubeFed). See
:mod:`components.tenancy_plan` for where each object lives and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import SecretStr

from components import config
from components.k8s import Component, meta, object_name
from components.tenancy_plan import (
    KUBECONFIG_KEY,
    LABEL_CLUSTER,
    LABEL_PROJECT,
    LABEL_SOURCE,
    LABEL_WORKSPACE,
    ProjectPlan,
    TargetPlan,
    WorkspacePlan,
    plan,
    status,
)

#: The Flux controller that applies Kustomizations (its service account in the Flux namespace).
KUSTOMIZE_CONTROLLER = "kustomize-controller"
KUBECONFIG_READER = "kommander-kubeconfig-reader"
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
#: What a project's reconcilers may manage in the project namespace. No RBAC, no Flux
#: kinds (a tenant Kustomization or HelmRelease would run with the controllers' rights).
PROJECT_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": ["configmaps", "secrets", "services", "serviceaccounts", "persistentvolumeclaims", "pods"],
        "verbs": VERBS,
    },
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"], "verbs": VERBS},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": VERBS},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "networkpolicies"], "verbs": VERBS},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": VERBS},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": VERBS},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
]


def _role_ref(role: k8s.rbac.v1.Role) -> k8s.rbac.v1.RoleRefArgs:
    return k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=object_name(role))


def _namespace_name(ns: k8s.core.v1.Namespace) -> pulumi.Output[str]:
    return ns.metadata.apply(lambda m: str(m.name))


# --------------------------------------------------------------------------- Workspace


@dataclass(frozen=True)
class WorkspaceArgs:
    name: str
    namespace: str
    labels: dict[str, str]
    flux_namespace: pulumi.Input[str]
    kubeconfig_secrets: list[str] = field(default_factory=list)
    """Names of the kubeconfig Secrets the workspace holds (readable by Flux only)."""


class Workspace(Component):
    """A workspace: a labelled namespace holding its clusters' kubeconfig Secrets."""

    namespace: pulumi.Output[str]
    """The workspace namespace (remote-cluster Kustomizations live here, beside the kubeconfigs)."""

    def __init__(self, name: str, args: WorkspaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:Workspace", name, opts)
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata=meta(args.namespace, labels=args.labels), opts=self.child()
        )
        self.namespace = _namespace_name(ns)
        if args.kubeconfig_secrets:
            role = k8s.rbac.v1.Role(
                f"{name}-kubeconfig-reader",
                metadata=meta(KUBECONFIG_READER, self.namespace),
                rules=[
                    k8s.rbac.v1.PolicyRuleArgs(
                        api_groups=[""],
                        resources=["secrets"],
                        resource_names=sorted(args.kubeconfig_secrets),
                        verbs=["get"],
                    )
                ],
                opts=self.child(),
            )
            k8s.rbac.v1.RoleBinding(
                f"{name}-kubeconfig-reader",
                metadata=meta(KUBECONFIG_READER, self.namespace),
                role_ref=_role_ref(role),
                subjects=[
                    k8s.rbac.v1.SubjectArgs(
                        kind="ServiceAccount", name=KUSTOMIZE_CONTROLLER, namespace=args.flux_namespace
                    )
                ],
                opts=self.child(),
            )
        self.register_outputs({"namespace": self.namespace})


# --------------------------------------------------------------------------- AttachedCluster


@dataclass(frozen=True)
class AttachedClusterArgs:
    name: str
    workspace: str
    namespace: pulumi.Input[str]
    kubeconfig: SecretStr | None
    """``None`` for ``host-cluster``: sources reach it without a kubeconfig."""
    secret_name: str | None = None


class AttachedCluster(Component):
    """A cluster of a workspace; a remote one's kubeconfig as a Secret in the workspace namespace."""

    kubeconfig_secret: pulumi.Output[str] | None
    """Name of the kubeconfig Secret (key ``value.yaml``); ``None`` for ``host-cluster``."""

    def __init__(self, name: str, args: AttachedClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:AttachedCluster", name, opts)
        self.kubeconfig_secret = None
        if args.kubeconfig is not None:
            secret = k8s.core.v1.Secret(
                f"{name}-kubeconfig",
                metadata=meta(
                    args.secret_name or f"{args.name}-kubeconfig",
                    args.namespace,
                    labels={LABEL_CLUSTER: args.name, LABEL_WORKSPACE: args.workspace},
                ),
                type="Opaque",
                string_data={KUBECONFIG_KEY: pulumi.Output.secret(args.kubeconfig.get_secret_value())},
                opts=self.child(),
            )
            self.kubeconfig_secret = object_name(secret)
        self.register_outputs({"kubeconfig_secret": self.kubeconfig_secret})


# --------------------------------------------------------------------------- Project


@dataclass(frozen=True)
class ProjectArgs:
    name: str
    namespace: str
    labels: dict[str, str]
    service_account: str


class Project(Component):
    """A project: its namespace and the least-privilege service account its reconcilers run as."""

    namespace: pulumi.Output[str]
    """The project namespace (GitRepositories, host-cluster Kustomizations, the target namespace).

    The reconciler service account's name is the plan's; a user of it depends on the whole
    project, so it is created after the account's RoleBinding and deleted before it."""

    def __init__(self, name: str, args: ProjectArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:Project", name, opts)
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata=meta(args.namespace, labels=args.labels), opts=self.child()
        )
        self.namespace = _namespace_name(ns)
        labels = {LABEL_PROJECT: args.name}
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-reconciler",
            metadata=meta(args.service_account, self.namespace, labels),
            automount_service_account_token=False,
            opts=self.child(),
        )
        role = k8s.rbac.v1.Role(
            f"{name}-reconciler",
            metadata=meta(args.service_account, self.namespace, labels),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=r["apiGroups"], resources=r["resources"], verbs=r["verbs"])
                for r in PROJECT_RULES
            ],
            opts=self.child(),
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-reconciler",
            metadata=meta(args.service_account, self.namespace, labels),
            role_ref=_role_ref(role),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=object_name(sa), namespace=self.namespace)],
            opts=self.child(),
        )
        self.register_outputs({"namespace": self.namespace})


# --------------------------------------------------------------------------- GitOpsSource


@dataclass(frozen=True)
class GitOpsSourceArgs:
    """Plain names, all decided by the plan (:mod:`components.tenancy_plan`).

    They are not read back from the objects they name: the objects are waited for
    explicitly. The source's ``depends_on`` holds the project (its namespace, service
    account and RBAC); each Kustomization also waits for its GitRepository and for its
    cluster (``clusters``), whose kubeconfig Secret it reads.
    """

    source: config.GitOpsSource
    project: str
    namespace: str
    """The project namespace: GitRepository, credentials and every Kustomization's target."""
    service_account: str
    repository: str
    credentials_secret: str | None
    targets: Sequence[TargetPlan]
    clusters: Mapping[str, pulumi.Resource]
    """Cluster name -> the AttachedCluster a Kustomization for it waits for (every target's)."""


def git_ref(ref: config.GitRef) -> dict[str, str]:
    return ref.model_dump(exclude_none=True)


def credentials_data(creds: config.Credentials) -> dict[str, pulumi.Input[str]]:
    """The Secret data Flux's source-controller expects: basic auth or SSH (secret values stay secret)."""
    if creds.identity is not None and creds.knownHosts is not None:
        return {
            "identity": pulumi.Output.secret(creds.identity.get_secret_value()),
            "known_hosts": pulumi.Output.secret(creds.knownHosts.get_secret_value()),
        }
    assert creds.username is not None and creds.password is not None  # the config model guarantees it
    return {"username": creds.username, "password": pulumi.Output.secret(creds.password.get_secret_value())}


class GitOpsSource(Component):
    """A tenant's Git source deployed by Flux to every selected cluster of its project.

    It exposes no Outputs: nothing is built on a source, and where its objects live is
    decided by the plan (:func:`components.tenancy_plan.status`).
    """

    def __init__(self, name: str, args: GitOpsSourceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:GitOpsSource", name, opts)
        src = args.source
        labels = {LABEL_PROJECT: args.project, LABEL_SOURCE: src.name}
        secret_ref: dict[str, pulumi.Input[str]] | None = None
        if src.credentials is not None and args.credentials_secret is not None:
            creds = k8s.core.v1.Secret(
                f"{name}-credentials",
                metadata=meta(args.credentials_secret, args.namespace, labels),
                type="Opaque",
                string_data=credentials_data(src.credentials),
                opts=self.child(),
            )
            secret_ref = {"name": object_name(creds)}
        repo_spec: dict[str, Any] = {"url": src.url, "ref": git_ref(src.ref), "interval": src.interval}
        if secret_ref is not None:
            repo_spec["secretRef"] = secret_ref
        repo = k8s.apiextensions.CustomResource(
            f"{name}-repository",
            api_version="source.toolkit.fluxcd.io/v1",
            kind="GitRepository",
            metadata=meta(args.repository, args.namespace, labels),
            spec=repo_spec,
            opts=self.child(),
        )
        for target in args.targets:
            spec: dict[str, Any] = {
                "interval": src.interval,
                "path": src.path,
                "prune": src.prune,
                "suspend": src.suspend,
                "sourceRef": {"kind": "GitRepository", "name": args.repository, "namespace": args.namespace},
                "targetNamespace": args.namespace,
                "serviceAccountName": args.service_account,
            }
            if target.kubeconfig_secret is not None:
                spec["kubeConfig"] = {"secretRef": {"name": target.kubeconfig_secret, "key": KUBECONFIG_KEY}}
            k8s.apiextensions.CustomResource(
                f"{name}-{target.cluster}",
                api_version="kustomize.toolkit.fluxcd.io/v1",
                kind="Kustomization",
                metadata=meta(target.name, target.namespace, {**labels, LABEL_CLUSTER: target.cluster}),
                spec=spec,
                opts=self.child(depends_on=[repo, args.clusters[target.cluster]]),
            )
        self.register_outputs({})


# --------------------------------------------------------------------------- Tenancy


@dataclass(frozen=True)
class TenancyArgs:
    workspaces: list[config.Workspace]
    projects: list[config.Project]
    flux_namespace: pulumi.Input[str]
    """Where the Flux controllers run (kustomize-controller alone may read kubeconfigs)."""
    flux: pulumi.Resource | None = None
    """What installs the Flux CRDs: only the GitOps sources (Flux custom resources) wait for it."""


class Tenancy(Component):
    """Every workspace, attached cluster, project and GitOps source of the stack config."""

    status: dict[str, Any]
    """Per project: namespace, workspace, clusters, and per source its GitRepository and its
    Kustomizations per cluster (``<namespace>/<name>``): what ``automation status`` watches.
    Plain data from the plan (known in preview); see :func:`components.tenancy_plan.status`."""
    kubeconfig_secrets: dict[str, pulumi.Output[str]]
    """Attached cluster -> name of its kubeconfig Secret (an Output: using it orders after the Secret)."""
    namespaces: dict[str, pulumi.Output[str]]
    """Workspace and project namespace -> its name as an Output (using it orders after the Namespace)."""

    def __init__(self, name: str, args: TenancyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:Tenancy", name, opts)
        layout = plan(args.workspaces, args.projects)
        for warning in layout.warnings:
            pulumi.log.warn(warning, resource=self)
        self.kubeconfig_secrets = {}
        self.namespaces = {}
        clusters: dict[str, pulumi.Resource] = {}
        for ws in layout.workspaces:
            clusters.update(self._workspace(name, ws, args.flux_namespace))
        for proj in layout.projects:
            self.namespaces[proj.namespace] = self._project(name, proj, clusters, args.flux)
        self.status = status(layout)
        self.register_outputs({"status": self.status})

    def _workspace(self, name: str, ws: WorkspacePlan, flux_namespace: pulumi.Input[str]) -> dict[str, AttachedCluster]:
        """The workspace and its attached clusters, by cluster name."""
        remote = [c.kubeconfig_secret for c in ws.clusters if c.kubeconfig_secret is not None]
        workspace = Workspace(
            f"{name}-ws-{ws.name}",
            WorkspaceArgs(ws.name, ws.namespace, dict(ws.labels), flux_namespace, remote),
            opts=self.child(),
        )
        clusters: dict[str, AttachedCluster] = {}
        for c in ws.clusters:
            cluster = AttachedCluster(
                f"{name}-cluster-{ws.name}.{c.name}",
                AttachedClusterArgs(c.name, ws.name, workspace.namespace, c.kubeconfig, c.kubeconfig_secret),
                opts=self.child(),
            )
            clusters[c.name] = cluster
            if cluster.kubeconfig_secret is not None:
                self.kubeconfig_secrets[c.name] = cluster.kubeconfig_secret
        self.namespaces[ws.namespace] = workspace.namespace
        return clusters

    def _project(
        self, name: str, proj: ProjectPlan, clusters: Mapping[str, pulumi.Resource], flux: pulumi.Resource | None
    ) -> pulumi.Output[str]:
        """The project and its sources; returns the project namespace's name (an Output)."""
        project = Project(
            f"{name}-project-{proj.name}",
            ProjectArgs(proj.name, proj.namespace, dict(proj.labels), proj.service_account),
            opts=self.child(),
        )
        # the sources' Flux objects wait for Flux (their CRDs) and for the whole project
        after: list[pulumi.Resource] = [project] if flux is None else [flux, project]
        for sp in proj.sources:
            GitOpsSource(
                f"{name}-source-{proj.name}.{sp.source.name}",
                GitOpsSourceArgs(
                    source=sp.source,
                    project=proj.name,
                    namespace=proj.namespace,
                    service_account=proj.service_account,
                    repository=sp.repository,
                    credentials_secret=sp.credentials_secret,
                    targets=sp.targets,
                    clusters={t.cluster: clusters[t.cluster] for t in sp.targets},
                ),
                opts=self.child(depends_on=after),
            )
        return project.namespace
