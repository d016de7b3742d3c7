"""Workspaces, attached clusters, projects and their GitOps sources fanned out with Flux.

``Tenancy`` composes, from the typed config and :func:`components.tenancy_plan.plan`:

- ``Workspace``: a labelled namespace holding its attached clusters' kubeconfigs (secret
  config), each as the Secret ``<cluster>-kubeconfig`` (key ``value.yaml``), and a Role
  that lets only Flux's kustomize-controller read those Secrets. The management cluster
  is ``host-cluster`` of the default workspace, without a Secret. An attached cluster is
  the plan's (:class:`components.tenancy_plan.ClusterPlan`), not a component of its own:
  it is one Secret at most, which a component would only wrap;
- ``Project``: a labelled namespace and the service account its Kustomizations run as,
  with a Role limited to everyday workload kinds in that namespace;
- ``GitOpsSource``: a credentials Secret (when credentials are configured), a
  GitRepository, and one Kustomization per selected cluster.

Multi-cluster delivery is Flux's own ``spec.kubeConfig`` (no KubeFed). See
:mod:`components.tenancy_plan` for where each object lives and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import SecretStr

from components import config
from components.k8s import WAIT_FOR_TERMINATION, Component, management_kustomization, meta, object_name, repository_path
from components.tenancy_plan import (
    KUBECONFIG_KEY,
    LABEL_APPLICATION,
    LABEL_CLUSTER,
    LABEL_PROJECT,
    LABEL_SOURCE,
    LABEL_WORKSPACE,
    NAMESPACE_BOOTSTRAP,
    ProjectPlan,
    TargetPlan,
    TenancyPlan,
    WorkspacePlan,
    plan,
    status,
)

#: The Flux controller that applies Kustomizations (its service account in the Flux namespace).
KUSTOMIZE_CONTROLLER = "kustomize-controller"
KUBECONFIG_READER = "kommander-kubeconfig-reader"
#: The component type that held each kubeconfig Secret before Workspace did (the Secrets' alias parent).
FORMER_CLUSTER_TYPE = "kommander:index:AttachedCluster"
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
class ClusterKubeconfig:
    """A remote cluster's kubeconfig, kept as a Secret in its workspace namespace."""

    cluster: str
    secret_name: str
    kubeconfig: SecretStr
    aliases: Sequence[pulumi.Alias] = ()
    """Where the Secret was registered before (as a child of an ``AttachedCluster``), so existing stacks keep it."""
    namespace_kustomization: str | None = None
    """The Kustomization that creates the workspace namespace on this cluster (named by the plan)."""


@dataclass(frozen=True)
class WorkspaceArgs:
    name: str
    namespace: str
    labels: dict[str, str]
    flux_namespace: pulumi.Input[str]
    kubeconfigs: Sequence[ClusterKubeconfig] = ()
    """The kubeconfigs of the workspace's remote clusters (readable by Flux only)."""
    path_prefix: str = ""
    """``gitea.pathPrefix``: where the management repository's content starts."""
    flux: pulumi.Resource | None = None
    """What installs the Flux CRDs (the namespace Kustomizations wait for it)."""


def namespace_kustomization_spec(args: WorkspaceArgs, kc: ClusterKubeconfig) -> dict[str, Any]:
    """The Flux Kustomization that creates the workspace namespace on an attached cluster (pure).

    It applies :data:`NAMESPACE_BOOTSTRAP` of the management repository with the namespace substituted, through
    the cluster's kubeconfig; it never prunes (deleting it must not delete a namespace, and everything in it, on a
    cluster this stack does not own)."""
    return management_kustomization(
        repository_path(args.path_prefix, NAMESPACE_BOOTSTRAP),
        args.flux_namespace,
        timeout="2m",
        prune=False,
        kubeConfig={"secretRef": {"name": kc.secret_name, "key": KUBECONFIG_KEY}},
        postBuild={"substitute": {"namespace": args.namespace, "workspace": args.name}},
    )


class Workspace(Component):
    """A workspace: a labelled namespace holding its clusters' kubeconfig Secrets."""

    namespace: pulumi.Output[str]
    """The workspace namespace (remote-cluster Kustomizations live here, beside the kubeconfigs)."""
    kubeconfig_secrets: dict[str, pulumi.CustomResource]
    """Remote cluster -> its kubeconfig Secret (what that cluster's Kustomizations wait for)."""

    def __init__(self, name: str, args: WorkspaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:Workspace", name, opts)
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata=meta(args.namespace, labels=args.labels), opts=self.child()
        )
        self.namespace = _namespace_name(ns)
        self.kubeconfig_secrets = {
            kc.cluster: k8s.core.v1.Secret(
                f"{name}-cluster-{kc.cluster}-kubeconfig",
                metadata=meta(
                    kc.secret_name, self.namespace, labels={LABEL_CLUSTER: kc.cluster, LABEL_WORKSPACE: args.name}
                ),
                type="Opaque",
                string_data={KUBECONFIG_KEY: pulumi.Output.secret(kc.kubeconfig.get_secret_value())},
                opts=self.child(aliases=list(kc.aliases)),
            )
            for kc in args.kubeconfigs
        }
        for kc in args.kubeconfigs:
            if kc.namespace_kustomization is None:
                continue
            # kustomize-controller creates no namespace: what Flux deploys into the workspace namespace on an
            # attached cluster (AppDeployments) waits for this Kustomization, which creates it there
            k8s.apiextensions.CustomResource(
                f"{name}-cluster-{kc.cluster}-namespace",
                api_version="kustomize.toolkit.fluxcd.io/v1",
                kind="Kustomization",
                metadata=meta(
                    kc.namespace_kustomization,
                    self.namespace,
                    # the platform's own delivery into the workspace, as an AppDeployment's (not a tenant's:
                    # it runs with the cluster's kubeconfig, no tenant service account exists there)
                    labels={LABEL_CLUSTER: kc.cluster, LABEL_WORKSPACE: args.name, LABEL_APPLICATION: "namespace"},
                ),
                spec=namespace_kustomization_spec(args, kc),
                opts=self.child(depends_on=[self.kubeconfig_secrets[kc.cluster], *([args.flux] if args.flux else [])]),
            )
        if args.kubeconfigs:
            role = k8s.rbac.v1.Role(
                f"{name}-kubeconfig-reader",
                metadata=meta(KUBECONFIG_READER, self.namespace),
                rules=[
                    k8s.rbac.v1.PolicyRuleArgs(
                        api_groups=[""],
                        resources=["secrets"],
                        resource_names=sorted(kc.secret_name for kc in args.kubeconfigs),
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


# --------------------------------------------------------------------------- Project


@dataclass(frozen=True)
class ProjectArgs:
    name: str
    namespace: str
    labels: dict[str, str]
    service_account: str
    identity_namespace: pulumi.Input[str] | None = None
    """The workspace namespace when the project's sources reach attached clusters (see
    :attr:`components.tenancy_plan.ProjectPlan.identity_namespace`): the account of that name is kept there too."""


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
        if args.identity_namespace is not None:
            # what Flux impersonates on the attached clusters; it must exist here for Flux to prune there on delete
            k8s.core.v1.ServiceAccount(
                f"{name}-remote-identity",
                metadata=meta(args.service_account, args.identity_namespace, labels),
                automount_service_account_token=False,
                opts=self.child(),
            )
        self.register_outputs({"namespace": self.namespace})


# --------------------------------------------------------------------------- GitOpsSource


@dataclass(frozen=True)
class GitOpsSourceArgs:
    """Plain names, all decided by the plan (:mod:`components.tenancy_plan`).

    They are not read back from the objects they name: the objects are waited for
    explicitly. The source's ``depends_on`` holds the project (its namespace, service
    account and RBAC); each Kustomization also waits for its GitRepository and, for a
    remote cluster, for the kubeconfig Secret it reads (``kubeconfigs``).
    """

    source: config.GitOpsSource
    project: str
    namespace: str
    """The project namespace: GitRepository, credentials and every Kustomization's target."""
    service_account: str
    repository: str
    credentials_secret: str | None
    targets: Sequence[TargetPlan]
    kubeconfigs: Mapping[str, pulumi.Resource]
    """Remote cluster -> its kubeconfig Secret, which that cluster's Kustomization waits for (every remote target's)."""


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
            after: list[pulumi.Resource] = [repo]
            if target.kubeconfig_secret is not None:
                spec["kubeConfig"] = {"secretRef": {"name": target.kubeconfig_secret, "key": KUBECONFIG_KEY}}
                after.append(args.kubeconfigs[target.cluster])
            elif src.prune:
                spec["deletionPolicy"] = WAIT_FOR_TERMINATION
            k8s.apiextensions.CustomResource(
                f"{name}-{target.cluster}",
                api_version="kustomize.toolkit.fluxcd.io/v1",
                kind="Kustomization",
                metadata=meta(target.name, target.namespace, {**labels, LABEL_CLUSTER: target.cluster}),
                spec=spec,
                opts=self.child(depends_on=after),
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
    layout: TenancyPlan | None = None
    """The plan of ``workspaces`` and ``projects`` when the caller has it (planned here otherwise)."""
    path_prefix: str = ""
    """``gitea.pathPrefix`` of the management repository."""


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
        layout = args.layout or plan(args.workspaces, args.projects)
        for warning in layout.warnings:
            pulumi.log.warn(warning, resource=self)
        self.kubeconfig_secrets = {}
        self.namespaces = {}
        kubeconfigs: dict[str, pulumi.Resource] = {}
        for ws in layout.workspaces:
            kubeconfigs.update(self._workspace(name, ws, args))
        for proj in layout.projects:
            self.namespaces[proj.namespace] = self._project(name, proj, kubeconfigs, args.flux)
        self.status = status(layout)
        # a summary: the status itself is the stack output `tenants`, and would be a second copy in the state
        self.register_outputs(
            {
                "workspaces": len(layout.workspaces),
                "projects": len(layout.projects),
                "sources": sum(len(p.sources) for p in layout.projects),
                "kustomizations": sum(len(s.targets) for p in layout.projects for s in p.sources),
            }
        )

    def _workspace(self, name: str, ws: WorkspacePlan, args: TenancyArgs) -> dict[str, pulumi.Resource]:
        """The workspace with its clusters' kubeconfig Secrets; returns them by cluster name."""
        kubeconfigs = []
        for c in ws.clusters:
            if c.kubeconfig is None or c.kubeconfig_secret is None:
                continue  # host-cluster: reached without a kubeconfig
            former = f"{name}-cluster-{ws.name}.{c.name}"  # the AttachedCluster component it was a child of
            former_parent = pulumi.create_urn(former, FORMER_CLUSTER_TYPE, parent=self)
            kubeconfigs.append(
                ClusterKubeconfig(
                    cluster=c.name,
                    secret_name=c.kubeconfig_secret,
                    kubeconfig=c.kubeconfig,
                    aliases=(pulumi.Alias(name=f"{former}-kubeconfig", parent=former_parent),),
                    namespace_kustomization=c.namespace_kustomization,
                )
            )
        workspace = Workspace(
            f"{name}-ws-{ws.name}",
            WorkspaceArgs(
                ws.name,
                ws.namespace,
                dict(ws.labels),
                args.flux_namespace,
                kubeconfigs,
                path_prefix=args.path_prefix,
                flux=args.flux,
            ),
            opts=self.child(),
        )
        for cluster, secret in workspace.kubeconfig_secrets.items():
            self.kubeconfig_secrets[cluster] = object_name(secret)
        self.namespaces[ws.namespace] = workspace.namespace
        return dict(workspace.kubeconfig_secrets)

    def _project(
        self, name: str, proj: ProjectPlan, kubeconfigs: Mapping[str, pulumi.Resource], flux: pulumi.Resource | None
    ) -> pulumi.Output[str]:
        """The project and its sources; returns the project namespace's name (an Output)."""
        project = Project(
            f"{name}-project-{proj.name}",
            ProjectArgs(
                proj.name,
                proj.namespace,
                dict(proj.labels),
                proj.service_account,
                self.namespaces[proj.identity_namespace] if proj.identity_namespace is not None else None,
            ),
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
                    kubeconfigs={t.cluster: kubeconfigs[t.cluster] for t in sp.targets if t.kubeconfig_secret},
                ),
                opts=self.child(depends_on=after),
            )
        return project.namespace
