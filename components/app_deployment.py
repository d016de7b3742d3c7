"""AppDeployment: one catalog application at one version on a set of clusters.

For each target cluster a Flux Kustomization reconciles
``applications/<app>/<version>`` of the ``management`` GitRepository (the flux
namespace) with ``postBuild`` substitution (the catalog's variables, then the
``substitution-vars`` ConfigMap), ``dependsOn`` the Kustomizations of the applications
it needs on the same cluster (except the suspended ones of :data:`PULUMI_OWNED` apps,
which would never clear: Pulumi orders those), and a health check on the app's HelmRelease.

User values (``kommander:apps.<name>.values`` merged with ``overrides.<cluster>``):

- on ``host-cluster`` they go into the ``<app>-overrides`` ConfigMap next to the
  HelmRelease, which reads it last (``valuesFrom`` ... ``optional: true``);
- on an attached cluster (minimal support) the Kustomization lives in the cluster's
  workspace namespace, reaches the cluster through ``spec.kubeConfig.secretRef``
  (the Secret the tenancy plan names, key ``value.yaml``, kept there by the tenancy
  component), deploys into the workspace namespace, and carries the values as a
  patch of the HelmRelease's ``spec.values`` (no ConfigMap can be created there by
  this stack). The attached cluster must run Flux with the catalog's HelmRepositories
  in its flux namespace.

On ``host-cluster`` the AppDeployments of flux, cert-manager and gitea are suspended
(:data:`PULUMI_OWNED`): Pulumi installs and owns those releases; ChartMuseum and
Gatekeeper are adopted for real, since the objects Pulumi applies equal the catalog's.

:func:`plan` turns the stack config and the catalog into the deployments to build
(core ones always, optional ones from ``kommander:apps``), rejecting unknown apps,
versions, clusters and missing dependencies with a message naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import app_versions, config, tenancy_plan
from components import catalog as cat
from components.config import ConfigError
from components.flux import controller_values
from components.gitea import chart_values as gitea_values
from components.ingress import tls_secret_name
from components.k8s import WAIT_FOR_TERMINATION, Component, management_kustomization, meta, repository_path

HOST_CLUSTER = tenancy_plan.HOST_CLUSTER
#: The GitRepository (flux namespace) holding the management repository.
MANAGEMENT_SOURCE = tenancy_plan.MANAGEMENT_SOURCE
#: The ConfigMap of substitution variables FluxConfiguration keeps (flux namespace).
VARS_CONFIGMAP = app_versions.SUBSTITUTION_VARS
KUBECONFIG_KEY = tenancy_plan.KUBECONFIG_KEY
#: Core applications and the ``kommander:versions`` field pinning each.
CORE_VERSIONS = {
    "flux": "flux",
    "cert-manager": "certManager",
    "gitea": "gitea",
    "chartmuseum": "chartmuseum",
    "gatekeeper": "gatekeeper",
    "traefik": "traefik",
}
#: Names other catalogs give the platform's own applications (kommander-applications: ``kommander-flux``).
CORE_ALIASES = {"kommander-flux": "flux"}
APP_LABEL = tenancy_plan.LABEL_APPLICATION
#: The annotation naming the catalog version an AppDeployment's Kustomizations apply.
VERSION_ANNOTATION = "kommander.d2iq.io/version"
#: Core apps whose release on the management cluster Pulumi itself owns and waits for (the
#: helm.sh/v3 Releases of Flux and cert-manager, Gitea's HelmRelease with its generated
#: credentials). Their host-cluster AppDeployment is recorded but suspended, so that
#: helm-controller never takes over a release Pulumi manages: one owner per release.
PULUMI_OWNED = frozenset({"flux", "cert-manager", "gitea"})
#: Core apps whose release keeps data on volumes; with ``protect`` on, Pulumi protects that
#: release on the management cluster. Their Kustomizations apply the same HelmRelease, so
#: with ``protect`` they orphan what they applied when deleted (``deletionPolicy: Orphan``):
#: deleting or replacing one never deletes the release, and so never the volume.
STATEFUL = frozenset({"gitea", "chartmuseum"})


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``; nested mappings are merged, everything else replaced (Helm's rule)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Target:
    """Where one AppDeployment's Kustomization for one cluster goes."""

    cluster: str
    namespace: str
    """Namespace of the Kustomization (flux namespace; the workspace namespace for attached clusters)."""
    release_namespace: str
    """Namespace of the app's HelmRelease and ConfigMaps on the target cluster."""
    values: dict[str, Any] = field(default_factory=dict)
    kubeconfig_secret: str | None = None
    """The attached cluster's kubeconfig Secret (in ``namespace``), as the tenancy plan names it."""
    namespace_kustomization: str | None = None
    """The Kustomization (in ``namespace``) that creates ``release_namespace`` on the attached cluster."""
    workspace_namespace: str = ""
    """``workspaceNamespace`` for the app's manifests: the kommander namespace on host-cluster, else the workspace's."""

    @property
    def remote(self) -> bool:
        return self.cluster != HOST_CLUSTER

    def kustomization_name(self, app: str) -> str:
        """``<app>`` on the management cluster, ``<app>-<cluster>`` in a workspace namespace."""
        return app if not self.remote else f"{app}-{self.cluster}"


@dataclass(frozen=True)
class AppPlan:
    """One application to deploy (plain values, decided from config)."""

    app: str
    version: str
    path: str
    core: bool
    depends_on: tuple[str, ...]
    targets: tuple[Target, ...]
    keep_on_delete: bool = False
    """Deleting a Kustomization of this app leaves what it applied (a protected, stateful app)."""
    defaults: bool = False
    """The version's ``defaults/`` is applied by its own Kustomization (kommander-applications trees)."""
    releases: tuple[app_versions.Release, ...] = ()
    """The HelmReleases of the version folder (health checks; where user values go)."""
    variables: Mapping[str, str] = field(default_factory=dict)
    """Per-app substitution variables (``kommander:apps.<app>.variables``)."""
    secret_values: bool = False
    """The app's values hold a leaf set as a secret: they go through a Secret, never a ConfigMap or a patch."""

    def deployment_variables(self, target: Target) -> dict[str, str]:
        """What Kommander's AppDeployment controller sets per deployment."""
        return {
            **self.variables,
            "releaseName": self.app,
            "releaseNamespace": target.release_namespace,
            "appVersion": self.version,
            "workspaceNamespace": target.workspace_namespace or target.release_namespace,
        }


def host_namespace(app: str, namespaces: config.Namespaces) -> str:
    """Where an app runs on the management cluster: Flux and cert-manager keep their own namespaces."""
    return {"flux": namespaces.flux, "cert-manager": namespaces.certManager}.get(app, namespaces.kommander)


def cluster_workspaces(layout: tenancy_plan.TenancyPlan) -> dict[str, tenancy_plan.ClusterPlan]:
    """Attached cluster name -> its plan (the kubeconfig Secret's name), with the namespace of its workspace."""
    return {c.name: c for w in layout.workspaces for c in w.clusters if c.kubeconfig_secret is not None}


def _workspace_namespaces(layout: tenancy_plan.TenancyPlan) -> dict[str, str]:
    """Attached cluster name -> the namespace of its workspace (where its kubeconfig Secret lives)."""
    return {c.name: w.namespace for w in layout.workspaces for c in w.clusters if c.kubeconfig_secret is not None}


def _core_values(app: str, cfg: config.StackConfig) -> dict[str, Any]:
    """Values the core apps need so that, when adopted, their HelmRelease describes what Pulumi installed."""
    if app == "flux":
        return controller_values(cfg.flux)
    if app == "gitea":
        return gitea_values(cfg.gitea, cfg.namespaces.kommander, cfg.protect)
    return {}


def app_variables(cfg: config.StackConfig) -> dict[str, str]:
    """The catalog's substitution variables for this stack (``releaseNamespace``: the kommander namespace)."""
    return cat.variables(
        release_namespace=cfg.namespaces.kommander,
        flux_namespace=cfg.namespaces.flux,
        ingress_enabled=cfg.ingress.enabled,
        ingress_domain=cfg.ingress.domain,
        ingress_tls_secret=tls_secret_name(cfg.ingress),
    )


def _dependency_order(plans: list[AppPlan]) -> list[AppPlan]:
    """Plans ordered so that every app comes after the apps it depends on."""
    done: list[AppPlan] = []
    names: set[str] = set()
    pending = list(plans)
    while pending:
        ready = [p for p in pending if set(p.depends_on) <= names]
        if not ready:
            cycle = ", ".join(sorted(p.app for p in pending))
            raise ConfigError(f"kommander:apps: the catalog's dependsOn form a cycle between {cycle}")
        for p in ready:
            done.append(p)
            names.add(p.app)
            pending.remove(p)
    return done


def _wanted(
    cfg: config.StackConfig, apps: Mapping[str, cat.CatalogApp], clusters: set[str]
) -> dict[str, tuple[str, config.App]]:
    """App -> (version, its config): the core apps at ``kommander:versions``, then the enabled ``kommander:apps``."""
    known = ", ".join(sorted(apps))
    core = [a for a in CORE_VERSIONS if a != "traefik" or cfg.ingress.enabled]
    wanted: dict[str, tuple[str, config.App]] = {}
    for app in core:
        field_ = CORE_VERSIONS[app]
        version = getattr(cfg.versions, field_)
        user = cfg.apps.get(app, config.App())
        if app in cfg.apps:
            if not user.enabled:
                raise ConfigError(f"kommander:apps.{app}.enabled: {app} is a core application and cannot be disabled")
            if user.version is not None:
                raise ConfigError(
                    f"kommander:apps.{app}.version: core versions are pinned by kommander:versions.{field_}"
                )
            if list(user.clusters) != [HOST_CLUSTER]:
                raise ConfigError(f"kommander:apps.{app}.clusters: core applications run on {HOST_CLUSTER} only")
        if app not in apps:
            raise ConfigError(f"kommander:versions.{field_}: the catalog has no application {app!r} (catalog: {known})")
        if version not in apps[app].versions:
            raise ConfigError(
                f"kommander:versions.{field_}: {version!r} is not in the catalog "
                f"(versions of {app}: {', '.join(apps[app].versions)})"
            )
        wanted[app] = (version, user)
    for app, user in sorted(cfg.apps.items()):
        if app in wanted:
            continue
        if app == "traefik":
            raise ConfigError("kommander:apps.traefik: Traefik is deployed with kommander:ingress.enabled")
        if app in CORE_ALIASES:
            core_app = CORE_ALIASES[app]
            raise ConfigError(
                f"kommander:apps.{app}: this is the platform's {core_app}, installed by Pulumi at "
                f"kommander:versions.{CORE_VERSIONS[core_app]}"
            )
        if app not in apps:
            raise ConfigError(f"kommander:apps.{app}: unknown application {app!r} (catalog: {known})")
        if not user.enabled:
            continue
        if not apps[app].versions:
            raise ConfigError(f"kommander:apps.{app}: the catalog has no version of {app}")
        version = user.version or apps[app].latest
        if version not in apps[app].versions:
            raise ConfigError(
                f"kommander:apps.{app}.version: {version!r} is not in the catalog "
                f"(versions of {app}: {', '.join(apps[app].versions)})"
            )
        for cluster in user.clusters:
            if cluster not in clusters:
                known_clusters = ", ".join([HOST_CLUSTER, *sorted(clusters - {HOST_CLUSTER})])
                raise ConfigError(
                    f"kommander:apps.{app}.clusters: unknown cluster {cluster!r} (known: {known_clusters})"
                )
        wanted[app] = (version, user)
    return wanted


def _check_variables(
    app: str, entry: cat.CatalogApp, version: str, target: Target, plan_: AppPlan, stack_variables: Mapping[str, str]
) -> None:
    """Every ``${var}`` without a default that Flux would meet for this deployment is supplied."""
    if entry.folder is None:
        return
    folder = entry.folder / version
    given = {**stack_variables, **plan_.deployment_variables(target)}
    try:
        missing = app_versions.missing_variables(folder, entry.folder.parent.parent, given, stack_variables)
    except cat.CatalogError as exc:
        raise ConfigError(f"kommander:applicationsPath: {exc}") from None
    if missing:
        names = ", ".join(sorted(missing))
        first = missing[sorted(missing)[0]]
        raise ConfigError(
            f"kommander:apps.{app}: {entry.version_path(version)} needs substitution variables nobody sets: {names} "
            f"(first in {first}); set them in kommander:apps.{app}.variables"
        )


def plan(
    cfg: config.StackConfig,
    apps: Mapping[str, cat.CatalogApp],
    layout: tenancy_plan.TenancyPlan | None = None,
    stack_variables: Mapping[str, str] | None = None,
) -> list[AppPlan]:
    """The AppDeployments of the stack: core apps (traefik when ingress is enabled) and enabled ``apps``.

    Attached clusters, their workspace namespaces and kubeconfig Secrets come from the tenancy plan ``layout``
    (planned from ``cfg`` when not given): no name is decided twice. With ``stack_variables`` (what
    ``substitution-vars`` holds), every deployment's manifests are checked for variables nobody sets."""
    layout = layout or tenancy_plan.plan(cfg.workspaces, cfg.projects)
    attached = cluster_workspaces(layout)
    workspaces = _workspace_namespaces(layout)
    wanted = _wanted(cfg, apps, {HOST_CLUSTER, *workspaces})
    on_cluster = {app: set(user.clusters) for app, (_, user) in wanted.items()}
    out: list[AppPlan] = []
    for app, (version, user) in wanted.items():
        entry = apps[app]
        deps = tuple(CORE_ALIASES.get(d, d) for d in entry.metadata_of(version).dependsOn)
        for dep in deps:
            missing = sorted(set(user.clusters) - on_cluster.get(dep, set()))
            if missing:
                how = (
                    "kommander:ingress.enabled"
                    if dep == "traefik"
                    else f"kommander:apps.{dep} with those clusters"
                    if dep in apps
                    else f"{dep!r} is not in the catalog"
                )
                raise ConfigError(f"kommander:apps.{app}: needs {dep!r} on {', '.join(missing)} ({how})")
        try:
            info = (
                app_versions.analyse(entry.folder / version, app)
                if entry.folder is not None
                else app_versions.VersionInfo(False, ())
            )
        except cat.CatalogError as exc:
            raise ConfigError(f"kommander:applicationsPath: {exc}") from None
        base = deep_merge(_core_values(app, cfg), user.values)
        targets = tuple(
            Target(
                cluster=cluster,
                namespace=cfg.namespaces.flux if cluster == HOST_CLUSTER else workspaces[cluster],
                release_namespace=host_namespace(app, cfg.namespaces)
                if cluster == HOST_CLUSTER
                else workspaces[cluster],
                values=deep_merge(base, user.overrides.get(cluster, {})),
                kubeconfig_secret=attached[cluster].kubeconfig_secret if cluster != HOST_CLUSTER else None,
                namespace_kustomization=attached[cluster].namespace_kustomization if cluster != HOST_CLUSTER else None,
                workspace_namespace=cfg.namespaces.kommander if cluster == HOST_CLUSTER else workspaces[cluster],
            )
            for cluster in user.clusters
        )
        secret_values = cfg.holds_secret("apps", app)
        remote = [t.cluster for t in targets if t.remote and t.values]
        if secret_values and remote:
            raise ConfigError(
                f"kommander:apps.{app}.values: values set as secrets cannot reach attached cluster {remote[0]} "
                "(they would be written into the Kustomization); set them for host-cluster only"
            )
        planned = AppPlan(
            app,
            version,
            entry.version_path(version),
            app in CORE_VERSIONS,
            deps,
            targets,
            keep_on_delete=cfg.protect and app in STATEFUL,
            defaults=info.defaults,
            releases=info.releases,
            variables=dict(user.variables),
            secret_values=secret_values,
        )
        if stack_variables is not None and app not in CORE_VERSIONS:
            for target in targets:
                _check_variables(app, entry, version, target, planned, stack_variables)
        out.append(planned)
    return _dependency_order(out)


def _release_names(plan_: AppPlan, target: Target, variables: Mapping[str, str]) -> list[tuple[str, str]]:
    """(name, namespace) of the version's HelmReleases for this deployment (the app's own when none is found)."""
    given = {**variables, **plan_.deployment_variables(target)}
    found = []
    for release in plan_.releases:
        try:
            found.append((cat.substitute(release.name, given), cat.substitute(release.namespace, given)))
        except cat.SubstitutionError:
            continue
    return found or [(plan_.app, target.release_namespace)]


def values_patch(app: str, release_namespace: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A Kustomization ``patches`` entry that sets the app's HelmRelease ``spec.values`` (attached clusters)."""
    patch = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": app, "namespace": release_namespace},
        "spec": {"values": dict(values)},
    }
    return {
        "patch": yaml.safe_dump(patch, sort_keys=True),
        "target": {"group": "helm.toolkit.fluxcd.io", "kind": "HelmRelease", "name": app},
    }


def overrides_patch(app: str, release: str, has_values_from: bool, kind: str = "ConfigMap") -> dict[str, Any]:
    """A ``patches`` entry making a HelmRelease read the app's overrides last (``valuesFrom``, optional)."""
    ref = {"kind": kind, "name": cat.overrides_name(app), "valuesKey": "values.yaml", "optional": True}
    op = (
        {"op": "add", "path": "/spec/valuesFrom/-", "value": ref}
        if has_values_from
        else {
            "op": "add",
            "path": "/spec/valuesFrom",
            "value": [ref],
        }
    )
    return {
        "patch": yaml.safe_dump([op], sort_keys=True),
        "target": {"group": "helm.toolkit.fluxcd.io", "kind": "HelmRelease", "name": release},
    }


def suspended(app: str, target: Target) -> bool:
    """Whether the app's Kustomization on ``target`` is suspended: Pulumi owns its release there."""
    return not target.remote and app in PULUMI_OWNED


def defaults_name(target: Target, app: str) -> str:
    """The Kustomization applying a version's separate ``defaults/``."""
    return f"{target.kustomization_name(app)}-defaults"


def _base_spec(
    path: str, target: Target, variables: Mapping[str, str], flux_namespace: pulumi.Input[str]
) -> dict[str, Any]:
    spec = management_kustomization(
        path,
        flux_namespace,
        timeout="10m",
        wait=False,
        postBuild={
            "substitute": dict(variables),
            "substituteFrom": [{"kind": "ConfigMap", "name": VARS_CONFIGMAP, "optional": True}],
        },
    )
    if target.remote:
        spec["kubeConfig"] = {"secretRef": {"name": target.kubeconfig_secret, "key": KUBECONFIG_KEY}}
    return spec


def defaults_spec(
    plan_: AppPlan,
    target: Target,
    variables: Mapping[str, str],
    flux_namespace: pulumi.Input[str],
    path_prefix: str = "",
) -> dict[str, Any]:
    """The Kustomization of a version's separate ``defaults/`` on one cluster (pure)."""
    path = repository_path(path_prefix, plan_.path, app_versions.DEFAULTS)
    spec = _base_spec(path, target, {**variables, **plan_.deployment_variables(target)}, flux_namespace)
    if target.namespace_kustomization:
        spec["dependsOn"] = [{"name": target.namespace_kustomization, "namespace": target.namespace}]
    if suspended(plan_.app, target):
        spec["suspend"] = True
    return spec


def kustomization_spec(
    plan_: AppPlan,
    target: Target,
    variables: Mapping[str, str],
    flux_namespace: pulumi.Input[str],
    path_prefix: str = "",
) -> dict[str, Any]:
    """The Flux Kustomization spec of one app on one cluster (pure)."""
    path = repository_path(path_prefix, plan_.path)
    spec = _base_spec(path, target, {**variables, **plan_.deployment_variables(target)}, flux_namespace)
    releases = _release_names(plan_, target, variables)
    spec["healthChecks"] = [
        {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "name": name, "namespace": namespace}
        for name, namespace in releases
    ]
    if suspended(plan_.app, target):
        spec["suspend"] = True
    if plan_.keep_on_delete:
        # Flux: deletionPolicy Orphan leaves the applied objects when the Kustomization is
        # deleted, while prune still collects what leaves the source (the default, MirrorPrune,
        # would delete them all: the HelmRelease, and with it, through Helm, the volume).
        spec["deletionPolicy"] = "Orphan"
    elif not target.remote:
        spec["deletionPolicy"] = WAIT_FOR_TERMINATION
    # A suspended Kustomization never becomes Ready, so a Flux dependency on one never clears:
    # the apps Pulumi owns on this cluster are ordered by Pulumi instead (their releases are
    # installed and waited for before any AppDeployment is registered).
    depends_on = [dep for dep in plan_.depends_on if not suspended(dep, target)]
    needs = [{"name": target.kustomization_name(dep), "namespace": target.namespace} for dep in depends_on]
    if plan_.defaults:
        needs.insert(0, {"name": defaults_name(target, plan_.app), "namespace": target.namespace})
    if target.namespace_kustomization:
        # kustomize-controller creates no namespace: the workspace namespace on the attached cluster first
        needs.insert(0, {"name": target.namespace_kustomization, "namespace": target.namespace})
    if needs:
        spec["dependsOn"] = needs
    if target.values:
        if target.remote:
            spec["patches"] = [values_patch(name, namespace, target.values) for name, namespace in releases]
        else:
            by_name = {r.name: r for r in plan_.releases}
            kind = "Secret" if plan_.secret_values else "ConfigMap"
            patches = [
                overrides_patch(plan_.app, name, by_name[name].has_values_from, kind)
                for name, _ in releases
                if name in by_name and (plan_.secret_values or not by_name[name].reads_overrides)
            ]
            if patches:
                spec["patches"] = patches
    return spec


@dataclass(frozen=True)
class AppDeploymentArgs:
    plan: AppPlan
    flux_namespace: pulumi.Input[str]
    """The flux namespace (where host-cluster Kustomizations live); an Output ties them to it."""
    variables: Mapping[str, str]
    """Catalog variables shared by every app (``catalog.variables``); ``releaseNamespace`` is set per target."""
    path_prefix: str = ""
    kubeconfig_secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Attached cluster -> its kubeconfig Secret's name as an Output (orders remote targets after the Secret)."""
    namespaces: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Workspace namespace -> its name as an Output (orders remote targets after the Namespace)."""


class AppDeployment(Component):
    """The Flux Kustomizations (one per cluster) and override ConfigMap of one application."""

    kustomizations: dict[str, k8s.apiextensions.CustomResource]
    """By cluster name."""
    app: str
    """The application's name."""
    version: str
    """The deployed version (a folder of the catalog)."""

    def __init__(self, name: str, args: AppDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:AppDeployment", name, opts)
        self.app = args.plan.app
        self.version = args.plan.version
        labels = {APP_LABEL: args.plan.app}
        self.kustomizations = {}
        for target in args.plan.targets:
            part = "" if not target.remote else f"-{target.cluster}"
            deps: list[pulumi.Resource] = []
            if not target.remote and target.values:
                values = yaml.safe_dump(target.values, sort_keys=True)
                metadata = meta(cat.overrides_name(args.plan.app), target.release_namespace, labels=labels)
                deps.append(
                    k8s.core.v1.Secret(
                        f"{name}-overrides-secret",
                        metadata=metadata,
                        string_data={"values.yaml": pulumi.Output.secret(values)},
                        opts=self.child(),
                    )
                    if args.plan.secret_values
                    else k8s.core.v1.ConfigMap(
                        f"{name}-overrides", metadata=metadata, data={"values.yaml": values}, opts=self.child()
                    )
                )
            variables = {**args.variables, "releaseNamespace": target.release_namespace}
            spec = kustomization_spec(args.plan, target, variables, args.flux_namespace, args.path_prefix)
            namespace: pulumi.Input[str] = args.flux_namespace
            if target.remote:
                # data dependencies on the tenancy's Namespace and kubeconfig Secret (never on all of it)
                if args.namespaces:
                    namespace = args.namespaces[target.namespace]
                    spec["kubeConfig"]["secretRef"]["name"] = args.kubeconfig_secrets[target.cluster]
                else:
                    namespace = target.namespace
            if args.plan.defaults:
                defaults = defaults_spec(args.plan, target, variables, args.flux_namespace, args.path_prefix)
                if target.remote and args.namespaces:
                    defaults["kubeConfig"]["secretRef"]["name"] = args.kubeconfig_secrets[target.cluster]
                deps.append(
                    k8s.apiextensions.CustomResource(
                        f"{name}{part}-defaults",
                        api_version="kustomize.toolkit.fluxcd.io/v1",
                        kind="Kustomization",
                        metadata=meta(
                            defaults_name(target, args.plan.app),
                            namespace,
                            labels={**labels, tenancy_plan.LABEL_CLUSTER: target.cluster},
                            annotations={VERSION_ANNOTATION: args.plan.version},
                        ),
                        spec=defaults,
                        opts=self.child(),
                    )
                )
            self.kustomizations[target.cluster] = k8s.apiextensions.CustomResource(
                f"{name}{part}",
                api_version="kustomize.toolkit.fluxcd.io/v1",
                kind="Kustomization",
                metadata=meta(
                    target.kustomization_name(args.plan.app),
                    namespace,
                    labels={**labels, tenancy_plan.LABEL_CLUSTER: target.cluster},
                    annotations={VERSION_ANNOTATION: args.plan.version},
                ),
                spec=spec,
                opts=self.child(depends_on=deps),
            )
        self.register_outputs({"app": self.app, "version": args.plan.version})
