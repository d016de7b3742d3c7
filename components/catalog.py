"""The application catalog on disk (kommander-applications layout), read without Pulumi.

Pure helpers: Flux's ``postBuild`` variable substitution, the catalog's apps and
versions, their metadata, the Helm repositories in ``common/helm-repositories``, and
the YAML documents of a folder after substitution. Components build resources from
what these return; tests exercise them directly.

Layout (both ``applications/`` and the 2.x ``services/`` folder are accepted)::

    applications/<app>/metadata.yaml                     displayName, description, category, scope, core, dependsOn
    applications/<app>/<version>/kustomization.yaml      the HelmRelease and defaults/
    applications/<app>/<version>/helmrelease.yaml        helm.toolkit.fluxcd.io/v2, chart version pinned
    applications/<app>/<version>/defaults/cm.yaml        ConfigMap <app>-<version>-defaults, key values.yaml
    common/helm-repositories/<repo>.yaml                 HelmRepository, url "${helmMirrorURL:=<default>}"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: Where the catalog this project ships lives.
DEFAULT_ROOT = ROOT
#: Folders of a kommander-applications checkout that hold application definitions, newest first.
APP_DIRS = ("applications", "services")
#: Where the management repository holds them, whatever the source layout.
PUBLISHED_DIR = "applications"
_KUSTOMIZATION = ("kustomization.yaml", "kustomization.yml", "Kustomization")
HELM_REPOSITORIES = Path("common") / "helm-repositories"
#: Fields every ``metadata.yaml`` has (``core`` and ``dependsOn`` are optional: false / none).
METADATA_FIELDS = ("displayName", "description", "category", "scope")
SCOPES = ("workspace", "project")

#: ``${name}``, ``${name:=default}``, ``${name:-default}``, ``${name=default}``, ``${name-default}``.
_VARIABLE = re.compile(r"\$\{([_A-Za-z][_A-Za-z0-9]*)(?:(:?[=-])([^}]*))?\}")


class SubstitutionError(ValueError):
    """A ``${name}`` without a default whose variable is not set."""


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Flux ``postBuild`` substitution (drone/envsubst semantics) of ``text``.

    ``${name}`` takes the variable and must be set; ``${name:=default}`` /
    ``${name:-default}`` take the default when the variable is unset or empty;
    ``${name=default}`` / ``${name-default}`` only when it is unset.
    """

    def one(match: re.Match[str]) -> str:
        name, op, default = match.group(1), match.group(2), match.group(3)
        value = variables.get(name)
        if op is None:
            if value is None:
                raise SubstitutionError(f"variable {name!r} is not set and has no default")
            return value
        if value is None or (op.startswith(":") and value == ""):
            return default
        return value

    return _VARIABLE.sub(one, text)


@dataclass(frozen=True)
class AppMetadata:
    """``applications/<app>/metadata.yaml``."""

    name: str
    displayName: str
    description: str
    category: list[str]
    scope: str
    core: bool
    dependsOn: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogApp:
    """One application of the catalog and the versions it ships."""

    name: str
    path: str
    """Path of the app folder relative to the catalog root (``applications/<app>``)."""
    metadata: AppMetadata
    versions: tuple[str, ...]

    def version_path(self, version: str) -> str:
        return f"{self.path}/{version}"

    @property
    def latest(self) -> str:
        return sorted(self.versions, key=version_key)[-1]


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of ``1.2.3`` / ``v1.2.3`` versions (pre-release tags ignored)."""
    core = version.lstrip("v").split("-")[0].split("+")[0]
    return tuple(int(p) if p.isdigit() else 0 for p in core.split("."))


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def read_metadata(name: str, path: Path) -> AppMetadata:
    raw = yaml.safe_load(path.read_text()) or {}
    missing = [f for f in METADATA_FIELDS if f not in raw]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}")
    if raw["scope"] not in SCOPES:
        raise ValueError(f"{path}: scope {raw['scope']!r} is not one of {', '.join(SCOPES)}")
    if not isinstance(raw.get("core", False), bool):
        raise ValueError(f"{path}: core must be true or false")
    category = raw["category"] if isinstance(raw["category"], list) else [raw["category"]]
    return AppMetadata(
        name=name,
        displayName=str(raw["displayName"]),
        description=str(raw["description"]),
        category=[str(c) for c in category],
        scope=raw["scope"],
        core=raw.get("core", False),
        dependsOn=tuple(raw.get("dependsOn") or ()),
    )


def is_version_dir(path: Path) -> bool:
    """A ``<app>/<version>/`` folder: it has a kustomization."""
    return path.is_dir() and any((path / k).is_file() for k in _KUSTOMIZATION)


def applications_dir(root: Path) -> Path | None:
    """The folder of ``<app>/<version>/`` directories of the catalog at ``root``, or None (no known layout).

    ``applications/`` (current), ``services/`` (2.x), or ``root`` itself when it holds app folders.
    """
    for layout in APP_DIRS:
        if (root / layout).is_dir():
            return root / layout
    apps = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")] if root.is_dir() else []
    if apps and all(any(is_version_dir(v) for v in app.iterdir()) for app in apps):
        return root
    return None


def load_catalog(root: Path = DEFAULT_ROOT) -> dict[str, CatalogApp]:
    """Every app folder with a ``metadata.yaml`` and its version folders, by app name.

    Paths are where the management repository publishes the app (``applications/<app>``),
    whichever layout the source uses.
    """
    base = applications_dir(root)
    if base is None:
        return {}
    apps: dict[str, CatalogApp] = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and (p / "metadata.yaml").is_file()):
        versions = tuple(sorted((v.name for v in folder.iterdir() if is_version_dir(v)), key=version_key))
        apps[folder.name] = CatalogApp(
            folder.name,
            f"{PUBLISHED_DIR}/{folder.name}",
            read_metadata(folder.name, folder / "metadata.yaml"),
            versions,
        )
    return apps


def rendered_documents(folder: Path, variables: Mapping[str, str]) -> list[dict[str, Any]]:
    """The objects of a kustomize folder (``resources`` followed recursively), after substitution."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text()) or {}
    out: list[dict[str, Any]] = []
    for entry in kustomization.get("resources") or []:
        target = folder / entry
        if target.is_dir():
            out += rendered_documents(target, variables)
        else:
            out += [doc for doc in yaml.safe_load_all(substitute(target.read_text(), variables)) if doc]
    return out


def helm_repository_files(root: Path = DEFAULT_ROOT) -> list[Path]:
    return sorted((root / HELM_REPOSITORIES).glob("*.yaml"))


def helm_repositories(root: Path, variables: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The HelmRepository objects of ``common/helm-repositories``, substituted, by file stem."""
    out: dict[str, dict[str, Any]] = {}
    for path in helm_repository_files(root):
        for doc in yaml.safe_load_all(substitute(path.read_text(), variables)):
            if doc and doc.get("kind") == "HelmRepository":
                out[path.stem] = doc
    return out


def variables(
    *,
    release_namespace: str,
    flux_namespace: str,
    ingress_enabled: bool,
    ingress_domain: str,
    ingress_tls_secret: str,
) -> dict[str, str]:
    """The substitution variables the catalog's files use (Flux ``postBuild.substitute`` keys)."""
    return {
        "releaseNamespace": release_namespace,
        "fluxNamespace": flux_namespace,
        "ingressEnabled": "true" if ingress_enabled else "false",
        "ingressDomain": ingress_domain,
        "ingressTLSSecret": ingress_tls_secret,
    }


def defaults_name(app: str, version: str) -> str:
    """The defaults ConfigMap of an app version (``<app>-<version>-defaults``)."""
    return f"{app}-{version}-defaults"


def overrides_name(app: str) -> str:
    """The user override ConfigMap an app's HelmRelease reads last (optional)."""
    return f"{app}-overrides"
