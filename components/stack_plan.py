"""The plan of the whole stack: everything decided from the config and local files, before any resource.

:func:`build` turns the typed config into plain data: the tenancy plan, the catalog in use
and its applications, the AppDeployment plan (versions, clusters, dependencies, and the
substitution check of every enabled app's manifests), the management repository's content
and its digest, and the substitution variables. Every problem is a :class:`ConfigError`
naming the key, raised here, so a bad config or catalog stops ``pulumi preview`` and
``pulumi up`` before the first resource is registered, and ``python -m automation`` finds
the same errors offline. ``ManagementCluster`` only registers what the plan says.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from components import (
    app_deployment,
    catalogs,
    cert_manager,
    flux_configuration,
    gitea,
    helm_repositories,
    ingress,
    platform_services,
    repository_content,
    sops_age,
    tenancy_plan,
)
from components import catalog as cat
from components.config import ConfigError, StackConfig

APPLICATIONS_PATH = "kommander:applicationsPath"


@dataclass(frozen=True)
class StackPlan:
    cfg: StackConfig
    tenancy: tenancy_plan.TenancyPlan
    catalog: cat.Catalog
    """The catalog in use (``applicationsPath``, else this project's)."""
    apps: dict[str, cat.CatalogApp]
    """Every app the stack can deploy: the catalog's, with the platform's own from this project's catalog."""
    app_plans: list[app_deployment.AppPlan]
    content: repository_content.ContentSpec
    digest: str
    """Digest of the repository's static content (known at preview)."""
    variables: dict[str, str]
    """``substitution-vars``: the stack-wide substitution variables."""
    catalog_variables: dict[str, str]
    """The variables this project's catalog files use (``catalog.variables``)."""
    helm_repositories: dict[str, dict[str, object]]
    """The HelmRepository objects Pulumi applies (this project's catalog's, and the user's catalog's)."""
    platform_releases: dict[str, tuple[dict[str, Any], dict[str, Any]]]
    """ChartMuseum's and Gatekeeper's (defaults ConfigMap, HelmRelease), which Pulumi applies itself."""
    gatekeeper_excluded: tuple[str, ...]
    """The namespaces Gatekeeper's service-account constraint skips."""
    catalog_placements: dict[str, tuple[catalogs.CatalogTarget, ...]]
    """``kommander:catalogs`` name -> the workspace and project namespaces its copies go to."""
    objects: tuple[tenancy_plan.PlannedObject, ...]
    """Every Kubernetes object the stack applies itself on the management cluster (not what Flux or Helm apply
    from it), with the config key that makes it: two with one kind, namespace and name are a config error."""


def _catalog(cfg: StackConfig) -> tuple[cat.Catalog, dict[str, cat.CatalogApp], bool]:
    """The catalog in use, the apps the stack can deploy, and whether it is a user's catalog."""
    try:
        bundled = cat.load(cat.DEFAULT_ROOT)
    except cat.CatalogError as exc:
        raise ConfigError(f"the bundled application catalog: {exc}") from None
    if cfg.applicationsPath is None:
        return bundled, dict(bundled.apps), False
    try:
        user = cat.load(cfg.applicationsPath)
    except cat.CatalogError as exc:
        raise ConfigError(f"{APPLICATIONS_PATH}: {exc}") from None
    if not any(app.versions for app in user.apps.values()):
        raise ConfigError(
            f"{APPLICATIONS_PATH}: {cfg.applicationsPath}: no application (expected "
            f"{user.layout}/<app>/<version>/ with a kustomization.yaml in each version folder)"
        )
    # The platform's own applications come from this project's catalog, at kommander:versions: Pulumi
    # installs and owns them; the user's copies of them are published but not deployed. A version this
    # project's catalog lacks is taken from the user's (it must then be in this project's layout).
    platform: dict[str, cat.CatalogApp] = {}
    for name, field in app_deployment.CORE_VERSIONS.items():
        version = getattr(cfg.versions, field)
        mine = bundled.apps.get(name)
        theirs = user.apps.get(name)
        if theirs is not None and (mine is None or version not in mine.versions) and version in theirs.versions:
            platform[name] = theirs
        elif mine is not None:
            platform[name] = replace(mine, path=f"{repository_content.PLATFORM_DIR}/{name}")
    return user, {**user.apps, **platform}, True


PLATFORM = "the platform"


def _platform_objects(
    cfg: StackConfig,
    helm_repositories: dict[str, dict[str, object]],
    releases: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> Iterator[tenancy_plan.PlannedObject]:
    """The platform's own objects: namespaces, cert-manager's, Gitea's, the repository's, Flux's configuration."""
    obj = tenancy_plan.PlannedObject
    ns = cfg.namespaces
    for field, name in (("kommander", ns.kommander), ("flux", ns.flux), ("certManager", ns.certManager)):
        yield obj("Namespace", "", name, f"kommander:namespaces.{field}")
    yield obj("ClusterIssuer", "", cert_manager.SELF_SIGNED_ISSUER, PLATFORM)
    yield obj("ClusterIssuer", "", cert_manager.CA_NAME, PLATFORM)
    yield obj("Certificate", ns.certManager, cert_manager.CA_NAME, PLATFORM)
    if cfg.ingress.enabled and cfg.ingress.certificate != "secret":
        yield obj("Certificate", ns.kommander, ingress.CERTIFICATE, "kommander:ingress")
        if cfg.ingress.certificate == "acme":
            yield obj("ClusterIssuer", "", ingress.ACME_ISSUER, "kommander:ingress.acme")
    for kind, name in (("Secret", gitea.ADMIN_SECRET), ("ConfigMap", gitea.REMOVED_DEFAULTS)):
        yield obj(kind, ns.kommander, name, "kommander:gitea")
    yield obj("HelmRelease", ns.kommander, gitea.RELEASE, "kommander:gitea")
    yield obj("Secret", ns.flux, sops_age.SECRET_NAME, PLATFORM)
    yield obj("ConfigMap", ns.flux, flux_configuration.VARS, PLATFORM)
    yield obj("Secret", ns.flux, flux_configuration.CREDENTIALS, PLATFORM)
    yield obj("GitRepository", ns.flux, flux_configuration.REPOSITORY, PLATFORM)
    yield obj("Kustomization", ns.flux, flux_configuration.KUSTOMIZATION, PLATFORM)
    for name in helm_repositories:
        yield obj("HelmRepository", ns.flux, name, "kommander:helmMirrorUrl")
    for app, (defaults, release) in releases.items():
        key = f"kommander:versions.{app_deployment.CORE_VERSIONS[app]}"
        yield obj("ConfigMap", ns.kommander, defaults["metadata"]["name"], key)
        yield obj("HelmRelease", ns.kommander, release["metadata"]["name"], key)
    for name in (platform_services.TEMPLATES, platform_services.CONSTRAINTS):
        yield obj("Kustomization", ns.flux, name, "kommander:versions.gatekeeper")


def _app_objects(plans: list[app_deployment.AppPlan]) -> Iterator[tenancy_plan.PlannedObject]:
    """Each app's Kustomizations (one per cluster, and its defaults') and its overrides on host-cluster."""
    obj = tenancy_plan.PlannedObject
    for p in plans:
        key = f"kommander:apps.{p.app}"
        for t in p.targets:
            yield obj("Kustomization", t.namespace, t.kustomization_name(p.app), key)
            if p.defaults:
                yield obj("Kustomization", t.namespace, app_deployment.defaults_name(t, p.app), key)
            if t.values and not t.remote:
                kind = "Secret" if p.secret_values else "ConfigMap"
                yield obj(kind, t.release_namespace, cat.overrides_name(p.app), key)


def _catalog_objects(
    cfg: StackConfig, placed: dict[str, tuple[catalogs.CatalogTarget, ...]]
) -> Iterator[tenancy_plan.PlannedObject]:
    """Each catalog's GitRepository in the kommander namespace and its copies."""
    for i, catalog in enumerate(cfg.catalogs):
        key = f"kommander:catalogs[{i}]"
        yield tenancy_plan.PlannedObject("GitRepository", cfg.namespaces.kommander, catalog.name, key)
        for target in placed[catalog.name]:
            yield tenancy_plan.PlannedObject("GitRepository", target.namespace, catalog.name, key)


def _no_collisions(objects: Iterable[tenancy_plan.PlannedObject]) -> None:
    """Two parts of the stack naming one object (same kind, namespace and name) is a config error naming both."""
    seen: dict[tuple[str, str, str], str] = {}
    for kind, namespace, name, key in objects:
        other = seen.setdefault((kind, namespace, name), key)
        if other != key:
            raise ConfigError(
                f"{key}: {kind} {namespace or '(cluster)'}/{name} is also made by {other}; rename one of them"
            )


def _platform_services(
    cfg: StackConfig, apps: dict[str, cat.CatalogApp], variables: dict[str, str]
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """ChartMuseum's and Gatekeeper's objects, which Pulumi applies from their catalog files (rendered once)."""
    out = {}
    for app, field in (("chartmuseum", "chartmuseum"), ("gatekeeper", "gatekeeper")):
        entry = apps.get(app)
        version = getattr(cfg.versions, field)
        if entry is None or entry.folder is None or version not in entry.versions:
            continue  # the app plan names what is missing
        try:
            out[app] = platform_services.release_objects(app, version, variables, entry.folder.parent.parent)
        except (cat.CatalogError, cat.SubstitutionError, ValueError, KeyError, FileNotFoundError) as exc:
            raise ConfigError(
                f"kommander:versions.{field}: {entry.version_path(version)} cannot be applied by Pulumi "
                f"(a defaults ConfigMap and a HelmRelease in this project's layout): {exc}"
            ) from None
    return out


def build(cfg: StackConfig) -> StackPlan:
    """The plan of the stack, or a :class:`ConfigError` naming the key."""
    tenancy = tenancy_plan.plan(cfg.workspaces, cfg.projects)
    catalog, apps, users = _catalog(cfg)
    variables = flux_configuration.substitution_variables(cfg)
    plans = app_deployment.plan(cfg, apps, tenancy, stack_variables=variables)
    placed = catalogs.placements(cfg.catalogs, catalogs.catalog_targets(tenancy))
    platform = tuple(
        (p.app, p.version) for p in plans if p.core and apps[p.app].path.startswith(repository_content.PLATFORM_DIR)
    )
    catalog_variables = app_deployment.app_variables(cfg)
    releases = _platform_services(cfg, apps, catalog_variables)
    content = repository_content.ContentSpec(
        str(catalog.root.resolve()),
        catalog.layout,
        platform,
        cfg.gitea.pathPrefix,
        cfg.clusterName,
        cfg.namespaces.flux,
        cfg.helmMirrorUrl if cfg.helmMirrorUrl and cfg.helmMirrorUrl.startswith("oci://") else "",
        cfg.helmMirrorCaSecret or "",
    )
    roots = [cat.DEFAULT_ROOT, *([catalog.root] if users and (catalog.root / cat.HELM_REPOSITORIES).is_dir() else [])]
    try:
        files = repository_content.collect(content)
        repositories = helm_repositories.repository_objects(
            roots, cfg.helmMirrorUrl, cfg.helmMirrorCaSecret, cfg.namespaces.flux
        )
    except cat.CatalogError as exc:
        where = APPLICATIONS_PATH if users else "the bundled application catalog"
        raise ConfigError(f"{where}: {exc}") from None
    objects = (
        *_platform_objects(cfg, repositories, releases),
        *tenancy.objects(),
        *_app_objects(plans),
        *_catalog_objects(cfg, placed),
    )
    _no_collisions(objects)
    return StackPlan(
        cfg,
        tenancy,
        catalog,
        apps,
        plans,
        content,
        repository_content.content_digest(files),
        variables,
        catalog_variables,
        repositories,
        releases,
        platform_services.excluded_namespaces(cfg, tenancy),
        placed,
        objects,
    )
