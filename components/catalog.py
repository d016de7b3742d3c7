"""The application catalog on disk (kommander-applications layouts), read without Pulumi.

Pure helpers: Flux's ``postBuild`` variable substitution, the catalog's apps, versions and
metadata, the Helm repositories in ``common/helm-repositories``, the objects of a kustomize
folder as Flux would render them, and the upgrade of Flux API versions the pinned Flux no
longer serves. Components build resources from what these return; tests exercise them
directly. A problem with the files is a :class:`CatalogError` naming the file.

Layouts (the folder is kept as it is when published, so nested Flux Kustomizations'
``path: ./services/...`` keep working)::

    applications/<app>/metadata.yaml            this project's catalog: displayName, description,
                                                category, scope, core, dependsOn
    services/<app>/metadata.yaml                kommander-applications 2.x: type, scope (a list),
                                                dependencies, requiredDependencies
    applications/<app>/<version>/metadata.yaml  kommander-applications 2.16 and later: per version
    <layout>/<app>/<version>/kustomization.yaml a version folder (its name is a version); other
                                                folders of an app (bootstrap/, charts/) are not versions
    <layout>/<app>/<version>/defaults/          the defaults ConfigMap, listed in the version's
                                                kustomization (this project) or applied on its own
    common/helm-repositories/*.yaml             HelmRepository objects, several per file allowed
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: Where the catalog this project ships lives.
DEFAULT_ROOT = ROOT
#: Folders of a kommander-applications checkout that hold application definitions, newest first.
APP_DIRS = ("applications", "services")
#: Where this project's own catalog keeps its applications.
PUBLISHED_DIR = "applications"
_KUSTOMIZATION = ("kustomization.yaml", "kustomization.yml", "Kustomization")
HELM_REPOSITORIES = Path("common") / "helm-repositories"
SCOPES = ("workspace", "project")
#: A version folder's name: ``1.2.3``, ``v1.19.1``, ``0.27.4-d2iq.1``.
VERSION_DIR = re.compile(r"^v?\d+(\.\d+){0,3}([-+][0-9A-Za-z.+-]+)?$")
#: Flux skips substitution for objects carrying this annotation or label with value ``disabled``.
SUBSTITUTE_SWITCH = "kustomize.toolkit.fluxcd.io/substitute"

#: libyaml's loader when PyYAML was built with it (a large catalog loads several times faster).
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Where kommander-applications' manifests expect Flux (``sourceRef.namespace``).
KOMMANDER_FLUX_NAMESPACE = "kommander-flux"

#: ``${name}``, ``${name:=default}``, ``${name:-default}``, ``${name=default}``, ``${name-default}``.
_VARIABLE = re.compile(r"\$\{([_A-Za-z][_A-Za-z0-9]*)(?:(:?[=-])([^}]*))?\}")


class CatalogError(ValueError):
    """A file of the catalog that the program cannot use (the message names the file)."""


class SubstitutionError(ValueError):
    """A ``${name}`` without a default whose variable is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(f"variable {name!r} is not set and has no default")
        self.name = name


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
                raise SubstitutionError(name)
            return value
        if value is None or (op.startswith(":") and value == ""):
            return default
        return value

    return _VARIABLE.sub(one, text)


def required_variables(text: str) -> set[str]:
    """The ``${name}`` references of ``text`` that have no default."""
    return {m.group(1) for m in _VARIABLE.finditer(text) if m.group(2) is None}


def substitute_data(node: Any, variables: Mapping[str, str]) -> Any:
    """``node`` with every string leaf substituted: values never become YAML syntax (for objects Pulumi builds)."""
    if isinstance(node, str):
        return substitute(node, variables)
    if isinstance(node, Mapping):
        return {k: substitute_data(v, variables) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute_data(v, variables) for v in node]
    return node


def substitution_disabled(doc: Mapping[str, Any]) -> bool:
    meta = doc.get("metadata") or {}
    marks = {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}
    return str(marks.get(SUBSTITUTE_SWITCH, "")) == "disabled"


def substitute_object(doc: dict[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    """One object after Flux's ``postBuild`` (the object's YAML substituted as text, unless it opts out)."""
    if substitution_disabled(doc):
        return doc
    return yaml.safe_load(substitute(yaml.safe_dump(doc, sort_keys=False), variables)) or {}


# -- Flux API versions -------------------------------------------------------------------------

#: What the pinned Flux (2.7.2) serves, per group and kind: (current, deprecated versions still served).
FLUX_SERVED: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("helm.toolkit.fluxcd.io", "HelmRelease"): ("v2", ("v2beta2",)),
    ("kustomize.toolkit.fluxcd.io", "Kustomization"): ("v1", ("v1beta2",)),
    **{
        ("source.toolkit.fluxcd.io", kind): ("v1", ("v1beta2",))
        for kind in ("GitRepository", "HelmRepository", "HelmChart", "Bucket", "OCIRepository")
    },
}
#: Versions Flux 2.x removed or renamed, per group (any kind of the group): upgraded like ``flux migrate``.
FLUX_GROUPS = ("helm.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "source.toolkit.fluxcd.io")


def _kustomize_patches(spec: dict[str, Any]) -> None:
    """``patchesStrategicMerge`` / ``patchesJson6902`` (removed in Kustomization v1) as ``patches``."""
    patches = list(spec.pop("patches", None) or [])
    for item in spec.pop("patchesStrategicMerge", None) or []:
        target = {"kind": item.get("kind"), "name": (item.get("metadata") or {}).get("name")}
        patches.append(
            {"patch": yaml.safe_dump(item, sort_keys=False), "target": {k: v for k, v in target.items() if v}}
        )
    for item in spec.pop("patchesJson6902", None) or []:
        patches.append({"patch": yaml.safe_dump(item.get("patch") or [], sort_keys=False), "target": item["target"]})
    if patches:
        spec["patches"] = patches


def upgrade_api(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` at the version the pinned Flux serves as current (a copy when anything changes).

    Like ``flux migrate``: the version is raised, and the fields the new version dropped are
    moved to their replacement (Kustomization ``patchesStrategicMerge``/``patchesJson6902`` to
    ``patches``, its ``validation`` dropped; HelmRelease ``valuesFile`` to ``valuesFiles``; the
    post-renderers' old patch fields to ``patches``; GitRepository ``gitImplementation`` dropped).
    Objects of other groups are returned as they are.
    """
    api = str(doc.get("apiVersion", ""))
    group = api.partition("/")[0]
    if group not in FLUX_GROUPS:
        return doc
    served = FLUX_SERVED.get((group, str(doc.get("kind"))))
    if served is None:
        return doc
    out = copy.deepcopy(doc)
    out["apiVersion"] = f"{group}/{served[0]}"
    spec = out.get("spec")
    if isinstance(spec, dict):
        _upgrade_spec(str(out.get("kind")), spec)
    return out if out != doc else doc


def _upgrade_spec(kind: str, spec: dict[str, Any]) -> None:
    if kind == "Kustomization":
        spec.pop("validation", None)
        _kustomize_patches(spec)
        for check in spec.get("healthChecks") or []:
            check_group, _, _ = str(check.get("apiVersion", "")).partition("/")
            current = FLUX_SERVED.get((check_group, str(check.get("kind"))))
            if current is not None:
                check["apiVersion"] = f"{check_group}/{current[0]}"
    elif kind == "HelmRelease":
        chart = (spec.get("chart") or {}).get("spec") or {}
        if "valuesFile" in chart:
            chart["valuesFiles"] = [chart.pop("valuesFile"), *chart.get("valuesFiles", [])]
        for renderer in spec.get("postRenderers") or []:
            kustomize = renderer.get("kustomize")
            if isinstance(kustomize, dict):
                _kustomize_patches(kustomize)
    elif kind == "GitRepository":
        spec.pop("gitImplementation", None)


# -- the catalog -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppMetadata:
    """An app's ``metadata.yaml`` (app level, or one version's)."""

    name: str
    displayName: str
    description: str = ""
    category: tuple[str, ...] = ()
    scope: tuple[str, ...] = ("workspace",)
    type: str = ""
    """Kommander's type (``platform``, ``internal``, ``catalog``, ``nkp-core-platform``), empty here."""
    core: bool = False
    dependsOn: tuple[str, ...] = ()
    """Apps that must run on the same cluster first (``dependsOn``, ``dependencies``, ``requiredDependencies``)."""


@dataclass(frozen=True)
class CatalogApp:
    """One application of the catalog and the versions it ships."""

    name: str
    path: str
    """Path of the app folder relative to the catalog root (``applications/<app>``, ``services/<app>``)."""
    metadata: AppMetadata
    versions: tuple[str, ...]
    version_metadata: Mapping[str, AppMetadata] = field(default_factory=dict)
    """Per-version metadata, where the layout has it (2.16 and later)."""
    folder: Path | None = None
    """The app's folder on disk (its version folders are rendered from there)."""

    def version_path(self, version: str) -> str:
        return f"{self.path}/{version}"

    def metadata_of(self, version: str) -> AppMetadata:
        return self.version_metadata.get(version, self.metadata)

    @property
    def latest(self) -> str:
        return sorted(self.versions, key=version_key)[-1]


@dataclass(frozen=True)
class Catalog:
    """A catalog tree: where it is, its layout folder, its apps."""

    root: Path
    layout: str
    """``applications`` or ``services``: the folder the tree keeps its apps in (published as it is)."""
    apps: dict[str, CatalogApp]


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of ``1.2.3`` / ``v1.2.3`` versions (pre-release tags ignored)."""
    core = version.lstrip("v").split("-")[0].split("+")[0]
    return tuple(int(p) if p.isdigit() else 0 for p in core.split("."))


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def load_yaml(path: Path, root: Path) -> list[Any]:
    """The documents of a YAML file, or a :class:`CatalogError` naming it."""
    try:
        text = path.read_bytes().decode("utf-8")
        return [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc is not None]
    except UnicodeDecodeError:
        raise CatalogError(f"{_shown(path, root)}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise CatalogError(f"{_shown(path, root)}: not valid YAML{where}") from None
    except RecursionError:
        raise CatalogError(f"{_shown(path, root)}: nested too deeply") from None


def _names(raw: Any, where: str, key: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(i, str) and i for i in items):
        raise CatalogError(f"{where}: {key} must be a list of names")
    return tuple(items)


def parse_metadata(name: str, raw: Any, where: str) -> AppMetadata:
    """``metadata.yaml`` of either layout, checked (``where`` names the file in errors)."""
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be a mapping (displayName, description, scope, ...)")
    scope = _names(raw.get("scope", "workspace"), where, "scope")
    unknown = [s for s in scope if s not in SCOPES]
    if unknown:
        raise CatalogError(f"{where}: scope {unknown[0]!r} is not one of {', '.join(SCOPES)}")
    core = raw.get("core", False)
    if not isinstance(core, bool):
        raise CatalogError(f"{where}: core must be true or false")
    for key in ("displayName", "description", "type"):
        if key in raw and not isinstance(raw[key], str):
            raise CatalogError(f"{where}: {key} must be a string")
    depends: list[str] = []
    for key in ("dependsOn", "requiredDependencies", "dependencies"):
        depends += [d for d in _names(raw.get(key), where, key) if d not in depends]
    return AppMetadata(
        name=name,
        displayName=str(raw.get("displayName") or name),
        description=str(raw.get("description") or ""),
        category=_names(raw.get("category"), where, "category"),
        scope=scope,
        type=str(raw.get("type") or ""),
        core=core,
        dependsOn=tuple(depends),
    )


def read_metadata(name: str, path: Path) -> AppMetadata:
    docs = load_yaml(path, path.parent)
    return parse_metadata(name, docs[0] if docs else {}, str(path))


def kustomization_file(folder: Path) -> Path | None:
    return next((folder / k for k in _KUSTOMIZATION if (folder / k).is_file()), None)


def is_version_dir(path: Path) -> bool:
    """A ``<app>/<version>/`` folder: named like a version, with a kustomization."""
    return path.is_dir() and bool(VERSION_DIR.match(path.name)) and kustomization_file(path) is not None


def applications_dir(root: Path) -> Path | None:
    """The folder of ``<app>/<version>/`` directories of the catalog at ``root``, or None (no known layout)."""
    for layout in APP_DIRS:
        if (root / layout).is_dir():
            return root / layout
    return None


def load(root: Path = DEFAULT_ROOT) -> Catalog:
    """The catalog at ``root``, checked: a :class:`CatalogError` names the first file it cannot use."""
    root = root.resolve()  # a checkout reached through a symbolic link: its files are read where they are
    if not root.is_dir():
        raise CatalogError(f"{root}: the application catalog does not exist (or is not a directory)")
    base = applications_dir(root)
    if base is None:
        raise CatalogError(
            f"{root}: no recognizable application layout (expected applications/<app>/<version>/ "
            "or services/<app>/<version>/ with a kustomization.yaml in each version folder)"
        )
    apps: dict[str, CatalogApp] = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        rel = _shown(folder, root)
        versions = tuple(sorted((v.name for v in folder.iterdir() if is_version_dir(v)), key=version_key))
        per_version = {
            v: parse_metadata(
                folder.name, (load_yaml(folder / v / "metadata.yaml", root) or [{}])[0], f"{rel}/{v}/metadata.yaml"
            )
            for v in versions
            if (folder / v / "metadata.yaml").is_file()
        }
        if (folder / "metadata.yaml").is_file():
            docs = load_yaml(folder / "metadata.yaml", root)
            metadata = parse_metadata(folder.name, docs[0] if docs else {}, f"{rel}/metadata.yaml")
        elif per_version:
            metadata = per_version[sorted(per_version, key=version_key)[-1]]
        elif versions:
            metadata = AppMetadata(folder.name, folder.name)
        else:
            continue  # not an application (no version, no metadata)
        apps[folder.name] = CatalogApp(folder.name, rel, metadata, versions, per_version, folder)
    return Catalog(root, base.name, apps)


def load_catalog(root: Path = DEFAULT_ROOT) -> dict[str, CatalogApp]:
    """Every app of the catalog at ``root``, by name ({} when ``root`` has no catalog)."""
    try:
        return load(root).apps
    except CatalogError:
        if root.is_dir() and applications_dir(root) is None:
            return {}
        raise


def _resources(folder: Path, root: Path) -> Iterator[Path]:
    """The files a kustomization lists, folders followed (kustomize's ``resources``); without a
    kustomization, every manifest under the folder (what kustomize-controller generates)."""
    path = kustomization_file(folder)
    if path is None:
        # kustomize-controller generates a kustomization of every manifest under the folder
        yield from sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))
        return
    docs = load_yaml(path, root)
    kustomization = docs[0] if docs else {}
    if not isinstance(kustomization, dict):
        raise CatalogError(f"{_shown(path, root)}: must be a mapping")
    for entry in kustomization.get("resources") or []:
        target = (folder / str(entry)).resolve()
        if not target.exists():
            raise CatalogError(f"{_shown(path, root)}: resource {entry!r} does not exist")
        if target.is_dir():
            yield from _resources(target, root)
        else:
            yield target


def raw_documents(folder: Path, root: Path | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """The objects of a kustomize folder as written (before substitution), with the file of each."""
    root = root or folder
    return [(p, d) for p in _resources(folder, root) for d in load_yaml(p, root) if isinstance(d, dict)]


def rendered_documents(folder: Path, variables: Mapping[str, str]) -> list[dict[str, Any]]:
    """The objects of a kustomize folder (``resources`` followed recursively), after Flux's substitution."""
    return [substitute_object(doc, variables) for _, doc in raw_documents(folder)]


def helm_repository_files(root: Path = DEFAULT_ROOT) -> list[Path]:
    return sorted(p for p in (root / HELM_REPOSITORIES).glob("*.y*ml") if not p.name.startswith("kustomization"))


def helm_repositories(root: Path, variables: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The HelmRepository objects of ``common/helm-repositories`` (several per file allowed), by name.

    Parsed first, then each string substituted (a variable's value never becomes YAML), and
    upgraded to the API version the pinned Flux serves.
    """
    out: dict[str, dict[str, Any]] = {}
    for path in helm_repository_files(root):
        for doc in load_yaml(path, root):
            if isinstance(doc, dict) and doc.get("kind") == "HelmRepository":
                name = str((doc.get("metadata") or {}).get("name", ""))
                if not name:
                    raise CatalogError(f"{_shown(path, root)}: a HelmRepository without metadata.name")
                try:
                    obj = upgrade_api(substitute_data(doc, variables))
                except SubstitutionError as exc:
                    raise CatalogError(f"{_shown(path, root)}: {exc}") from None
                if name in out and out[name] != obj:
                    raise CatalogError(f"{_shown(path, root)}: HelmRepository {name!r} is defined twice, differently")
                out[name] = obj
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
