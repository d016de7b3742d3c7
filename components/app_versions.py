"""What one catalog app version needs from its AppDeployment, read from its files (pure).

Kommander's AppDeployment contract, as the kommander-applications trees rely on it:

* the Flux Kustomization applies the version folder (``<layout>/<app>/<version>``) of the
  management repository, with ``postBuild.substitute`` setting ``releaseName``,
  ``releaseNamespace``, ``appVersion`` and ``workspaceNamespace`` per deployment, and
  ``substituteFrom`` the ``substitution-vars`` ConfigMap of stack-wide variables;
* a ``defaults/`` folder that the version's kustomization does not list (2.x and later
  trees) is applied by its own Kustomization, which the app's waits for;
* user values reach each HelmRelease through ``valuesFrom`` (added by a patch where the
  release does not already read the overrides);
* nested Flux Kustomizations apply further folders of the repository with their own
  substitutions.

:func:`analyse` reads a version folder; :func:`missing_variables` follows what Flux would
apply for one deployment (the version folder, its defaults, every nested Kustomization's
folder, recursively) and names every ``${var}`` without a default that nobody supplies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components import catalog as cat

DEFAULTS = "defaults"
#: Kommander's ConfigMap of stack-wide substitution variables (in the Kustomization's namespace).
SUBSTITUTION_VARS = "substitution-vars"


@dataclass(frozen=True)
class Release:
    """A HelmRelease of a version folder, as written (names may hold ``${...}``)."""

    name: str
    namespace: str
    reads_overrides: bool
    """Its ``valuesFrom`` already names the app's overrides."""
    has_values_from: bool


@dataclass(frozen=True)
class VersionInfo:
    defaults: bool
    """A ``defaults/`` folder applied by its own Kustomization (not listed by the version's)."""
    releases: tuple[Release, ...]


def _listed(folder: Path, entry: str) -> bool:
    path = cat.kustomization_file(folder)
    docs = cat.load_yaml(path, folder) if path else []
    resources = (docs[0] or {}).get("resources") if docs and isinstance(docs[0], dict) else None
    return any(str(r).strip("./").rstrip("/") == entry for r in resources or [])


def analyse(folder: Path, app: str) -> VersionInfo:
    """The defaults handling and HelmReleases of the version folder ``folder``."""
    defaults = (folder / DEFAULTS).is_dir() and not _listed(folder, DEFAULTS)
    releases = []
    for _, doc in cat.raw_documents(folder):
        if doc.get("kind") != "HelmRelease":
            continue
        meta = doc.get("metadata") or {}
        values_from = (doc.get("spec") or {}).get("valuesFrom") or []
        reads = any(isinstance(v, dict) and v.get("name") == cat.overrides_name(app) for v in values_from)
        releases.append(
            Release(
                str(meta.get("name", app)), str(meta.get("namespace", "${releaseNamespace}")), reads, bool(values_from)
            )
        )
    return VersionInfo(defaults, tuple(releases))


def _flux_kustomizations(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d
        for d in docs
        if d.get("kind") == "Kustomization" and str(d.get("apiVersion", "")).startswith("kustomize.toolkit")
    ]


def missing_variables(
    folder: Path, repository_root: Path, variables: Mapping[str, str], stack_variables: Mapping[str, str]
) -> dict[str, str]:
    """Each ``${var}`` without a default that Flux would meet unset, with the file it is in (``{var: file}``).

    ``folder`` is rendered with ``variables``; each nested Flux Kustomization's folder (its
    ``spec.path`` under ``repository_root``) with its own ``postBuild.substitute`` (after the
    outer substitution) plus ``stack_variables`` when it reads ``substitution-vars``.
    """
    repository_root = repository_root.resolve()
    missing: dict[str, str] = {}
    seen: set[tuple[Path, tuple[tuple[str, str], ...]]] = set()

    def walk(here: Path, given: Mapping[str, str]) -> None:
        key = (here, tuple(sorted(given.items())))
        if key in seen or len(seen) > 200:
            return
        seen.add(key)
        nested: list[dict[str, Any]] = []
        for file, doc in cat.raw_documents(here, repository_root):
            if cat.substitution_disabled(doc):
                continue
            text = yaml.safe_dump(doc, sort_keys=False)
            for name in sorted(cat.required_variables(text) - set(given)):
                missing.setdefault(name, file.relative_to(repository_root).as_posix())
            if doc in _flux_kustomizations([doc]):
                try:
                    nested.append(cat.substitute_object(doc, given))
                except cat.SubstitutionError:
                    continue
        for child in nested:
            spec = child.get("spec") or {}
            rel = str(spec.get("path", "")).removeprefix("./")
            target = repository_root / rel
            if not rel or not target.is_dir():
                missing.setdefault(f"path {spec.get('path')!r}", f"Kustomization {child['metadata'].get('name')}")
                continue
            post = spec.get("postBuild") or {}
            inner = {str(k): str(v) for k, v in (post.get("substitute") or {}).items()}
            if any(ref.get("name") == SUBSTITUTION_VARS for ref in post.get("substituteFrom") or []):
                inner = {**stack_variables, **inner}
            walk(target, inner)

    walk(folder, variables)
    if (folder / DEFAULTS).is_dir() and not _listed(folder, DEFAULTS):
        walk(folder / DEFAULTS, variables)
    return missing
