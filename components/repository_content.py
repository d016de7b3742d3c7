"""The management repository's static content, built from local files only (pure: no Pulumi, no Git).

What is published, relative to ``gitea.pathPrefix``:

* the catalog tree **as it is**: its layout folder (``applications/`` or ``services/``) and its
  ``common/``, at the same paths as in the source, so the paths its nested Flux
  Kustomizations name (``./services/<app>/<version>/release``) exist. Two changes are made
  while publishing, both to parsed objects (a file without such an object keeps its bytes):
  Flux objects at an API version the pinned Flux no longer serves, or serves as deprecated,
  are upgraded (:func:`catalog.upgrade_api`, like ``flux migrate``); and with a path prefix,
  a nested Kustomization's ``spec.path`` into the tree gets the prefix;
* with a user's catalog (``kommander:applicationsPath``), the platform's own applications
  (Flux, cert-manager, Gitea, ChartMuseum, Gatekeeper, Traefik) from this project's catalog
  under ``platform/<app>/<version>/``, since Pulumi installs those at ``kommander:versions``;
* the project's ``bootstrap/`` (Gatekeeper's policies, the attached clusters' namespace);
* ``clusters/<clusterName>/kustomization.yaml``, the entry point ``apps-kommander`` applies.

A problem with a file is a :class:`catalog.CatalogError` naming it; the stack plan turns it
into a config error naming ``kommander:applicationsPath`` before any resource is registered.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components import catalog as cat

#: Where a user's catalog gets the platform's own applications (from this project's catalog).
PLATFORM_DIR = "platform"
#: The project's bootstrap manifests (always this project's: the stack's Kustomizations point there).
BOOTSTRAP_DIR = "bootstrap"
COMMON_DIR = "common"
_MANIFEST = re.compile(r"\.ya?ml$")
#: The encrypted secrets' folder and the Gitea credentials file (relative to the prefix).
SECRETS_DIR = "secrets"
GITEA_SECRET = "gitea-credentials"


@dataclass(frozen=True)
class ContentSpec:
    """What decides the content: plain values (they are also the publisher's inputs)."""

    catalog_root: str
    """The catalog checkout (the project's root for the bundled catalog)."""
    layout: str
    """The tree's layout folder (``applications`` or ``services``)."""
    platform_apps: tuple[tuple[str, str], ...] = ()
    """(app, version) of this project's catalog published under ``platform/``: with a user's catalog."""
    path_prefix: str = ""
    cluster_name: str = "kommander"
    flux_namespace: str = cat.KOMMANDER_FLUX_NAMESPACE
    oci_mirror: str = ""
    """``helmMirrorUrl`` when it is an ``oci://`` registry: the tree's OCIRepository sources pull through it."""
    ca_secret: str = ""
    """``helmMirrorCaSecret``: the CA those sources trust (a Secret in the OCIRepository's namespace)."""

    def inputs(self) -> dict[str, Any]:
        return {
            "catalog_root": self.catalog_root,
            "layout": self.layout,
            "platform_apps": [list(p) for p in self.platform_apps],
            "path_prefix": self.path_prefix,
            "cluster_name": self.cluster_name,
            "flux_namespace": self.flux_namespace,
            "oci_mirror": self.oci_mirror,
            "ca_secret": self.ca_secret,
        }

    @classmethod
    def from_inputs(cls, props: Mapping[str, Any]) -> ContentSpec:
        return cls(
            str(props["catalog_root"]),
            str(props["layout"]),
            tuple((str(a), str(v)) for a, v in props.get("platform_apps") or ()),
            str(props.get("path_prefix") or ""),
            str(props["cluster_name"]),
            str(props.get("flux_namespace") or cat.KOMMANDER_FLUX_NAMESPACE),
            str(props.get("oci_mirror") or ""),
            str(props.get("ca_secret") or ""),
        )


def files_of(folder: Path, root: Path) -> Iterator[Path]:
    """Every file under ``folder`` (hidden ones skipped); a symlink leading outside ``root`` is an error."""
    top = root.resolve()
    if folder != root and not folder.resolve().is_relative_to(top):  # the layout folder or common/ itself
        raise cat.CatalogError(f"{folder.relative_to(root).as_posix()}: a symbolic link out of the catalog")
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        try:
            rel.as_posix().encode()
        except UnicodeEncodeError:
            shown = path.relative_to(root).as_posix().encode(errors="surrogateescape").decode(errors="replace")
            raise cat.CatalogError(f"{shown}: a file name that is not UTF-8 (Git paths are text)") from None
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(top) or not target.exists():
                raise cat.CatalogError(f"{path.relative_to(root).as_posix()}: a symbolic link out of the catalog")
        if path.is_file():
            yield path


def prefixed(path: str, prefix: str, roots: tuple[str, ...]) -> str:
    """``./<root>/...`` as ``./<prefix>/<root>/...``; other paths as they are."""
    bare = path.removeprefix("./")
    if not prefix or not any(bare == r or bare.startswith(f"{r}/") for r in roots):
        return path
    return f"./{prefix.strip('/')}/{bare}"


def _source_namespaces(node: Any, flux_namespace: str) -> Any:
    """Every ``sourceRef`` / ``chartRef`` into kommander-applications' flux namespace, into the stack's."""
    if isinstance(node, list):
        return [_source_namespaces(v, flux_namespace) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _source_namespaces(v, flux_namespace) for k, v in node.items()}
    for key in ("sourceRef", "chartRef"):
        ref = out.get(key)
        if isinstance(ref, dict) and ref.get("namespace") == cat.KOMMANDER_FLUX_NAMESPACE:
            out[key] = {**ref, "namespace": flux_namespace}
    return out


def mirrored(url: str, mirror: str) -> str:
    """An ``oci://`` chart URL through the mirror: the mirror holds every chart under its own name."""
    return f"{mirror.rstrip('/')}/{url.rstrip('/').rsplit('/', 1)[-1]}"


def _through_mirror(doc: dict[str, Any], spec: ContentSpec) -> dict[str, Any]:
    body = doc.get("spec")
    if doc.get("kind") != "OCIRepository" or not isinstance(body, dict) or not spec.oci_mirror:
        return doc
    body = {**body, "url": mirrored(str(body.get("url", "")), spec.oci_mirror)}
    if spec.ca_secret:
        body["certSecretRef"] = {"name": spec.ca_secret}
    return {**doc, "spec": body}


def _transform(doc: Any, spec: ContentSpec, roots: tuple[str, ...]) -> Any:
    if not isinstance(doc, dict):
        return doc
    out = _through_mirror(cat.upgrade_api(doc), spec)
    if spec.flux_namespace != cat.KOMMANDER_FLUX_NAMESPACE and str(out.get("apiVersion", "")).split("/")[0] in (
        cat.FLUX_GROUPS
    ):
        out = _source_namespaces(out, spec.flux_namespace)
    body = out.get("spec")
    if out.get("kind") == "Kustomization" and isinstance(body, dict) and isinstance(body.get("path"), str):
        path = prefixed(body["path"], spec.path_prefix.strip("/"), roots)
        if path != body["path"]:
            out = {**out, "spec": {**body, "path": path}}
    return out


def published_bytes(path: Path, root: Path, spec: ContentSpec, roots: tuple[str, ...]) -> bytes:
    """A file as published: YAML checked, and re-written only when an object in it changes."""
    data = path.read_bytes()
    if not _MANIFEST.search(path.name):
        return data
    docs = cat.load_yaml(path, root)
    changed = [_transform(d, spec, roots) for d in docs]
    if changed == docs:
        return data
    return yaml.safe_dump_all(changed, sort_keys=False, explicit_start=True).encode()


def _tree(folder: Path, root: Path, dest: str, spec: ContentSpec, roots: tuple[str, ...]) -> dict[str, bytes]:
    return {
        f"{dest}/{p.relative_to(folder).as_posix()}": published_bytes(p, root, spec, roots)
        for p in files_of(folder, root)
    }


def content_digest(files: Mapping[str, bytes]) -> str:
    """A digest of paths and contents: equal exactly when the files are equal."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return h.hexdigest()


def cluster_path(cluster_name: str) -> str:
    """Where the management cluster's bootstrap kustomization lives (relative to the prefix)."""
    return f"clusters/{cluster_name}"


def bootstrap_manifests(cluster_name: str) -> dict[str, bytes]:
    """The management cluster's entry point: ``clusters/<cluster>/kustomization.yaml``.

    The ``apps-kommander`` Flux Kustomization applies this path: the SOPS-encrypted
    secrets. What Pulumi applies itself (the HelmRepositories of
    ``common/helm-repositories/``) and what has its own Flux Kustomization
    (``bootstrap/<part>/``, the applications through AppDeployments) is published for
    reference and reuse but deliberately not listed, so no object has two owners.
    """
    doc = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [f"../../{SECRETS_DIR}/{GITEA_SECRET}.enc.yaml"],
    }
    return {f"{cluster_path(cluster_name)}/kustomization.yaml": yaml.safe_dump(doc, sort_keys=False).encode()}


def collect(spec: ContentSpec) -> dict[str, bytes]:
    """Every static file of the repository (paths relative to the prefix)."""
    root = Path(spec.catalog_root)
    roots = (spec.layout, COMMON_DIR, PLATFORM_DIR, BOOTSTRAP_DIR)
    files = _tree(root / spec.layout, root, spec.layout, spec, roots)
    common = root / COMMON_DIR if (root / COMMON_DIR).is_dir() else cat.DEFAULT_ROOT / COMMON_DIR
    files.update(_tree(common, common.parent, COMMON_DIR, spec, roots))
    bundled = cat.DEFAULT_ROOT / cat.PUBLISHED_DIR
    for app, version in spec.platform_apps:
        folder = bundled / app / version
        files.update(_tree(folder, cat.DEFAULT_ROOT, f"{PLATFORM_DIR}/{app}/{version}", spec, roots))
    files.update(_tree(cat.DEFAULT_ROOT / BOOTSTRAP_DIR, cat.DEFAULT_ROOT, BOOTSTRAP_DIR, spec, roots))
    files.update(bootstrap_manifests(spec.cluster_name))
    return files
