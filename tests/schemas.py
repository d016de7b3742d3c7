"""Validate Kubernetes objects against the real schemas.

Built-in kinds: ``kubernetes-validate`` in strict mode (unknown fields are errors).
Custom resources: JSON Schema built from the upstream CRDs' ``openAPIV3Schema``
(``../shared/schemas/crds/``; the project keeps no copy), with the Kubernetes extensions translated:
``x-kubernetes-int-or-string``, ``nullable``, ``x-kubernetes-preserve-unknown-fields``;
fields a structural schema does not declare are rejected, as the API server's strict
field validation does.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
#: Upstream data beside the repository (``../shared``): CRDs, the charts' default values.
SHARED = ROOT.parent / "shared"
SHARED_CRDS = SHARED / "schemas" / "crds"
K8S_VERSION = "1.33.0"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class SchemaError(AssertionError):
    pass


def shared(*parts: str) -> Path:
    """A path under ``../shared``; the calling test fails, in one line, when it is missing.

    Tests that judge the program against upstream data (the charts' values, the CRDs'
    documented semantics) have no other source of truth, so a missing file is a failure,
    never a skip.
    """
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(
            f"missing {path} (upstream data these tests need, expected in ../shared beside the repository)",
            pytrace=False,
        )
    return path


def crd_dirs() -> list[Path]:
    """The upstream CRDs of the pinned versions, in ``../shared/schemas/crds`` (the test fails when missing)."""
    return [shared("schemas", "crds")]


def to_json_schema(node: Any) -> Any:
    """Translate an openAPIV3Schema node to JSON Schema (draft 2020-12)."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {k: to_json_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_json_schema(value) if isinstance(value, dict) else value
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_json_schema(v) for v in value]
        elif key.startswith("x-kubernetes-") or key in ("nullable", "format", "description", "example"):
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
    # structural schemas allow any metadata; apiVersion/kind/metadata are checked separately
    return out


@functools.cache
def crd_schemas() -> dict[tuple[str, str], tuple[dict[str, Any], str]]:
    """(apiVersion, kind) -> (JSON Schema, scope) for every served CRD version."""
    out: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for directory in crd_dirs():
        for path in sorted(directory.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for ver in spec["versions"]:
                    if not ver.get("served", True):
                        continue
                    schema = to_json_schema(ver["schema"]["openAPIV3Schema"])
                    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                    out.setdefault((f"{spec['group']}/{ver['name']}", spec["names"]["kind"]), (schema, spec["scope"]))
    return out


def _check_metadata(obj: dict[str, Any], namespaced: bool | None) -> None:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    where = f"{obj.get('kind')} {name}"
    if not isinstance(name, str) or len(name) > 253 or not _NAME.match(name):
        raise SchemaError(f"{where}: metadata.name {name!r} is not a valid DNS-1123 subdomain")
    ns = meta.get("namespace")
    if namespaced is True and not ns:
        raise SchemaError(f"{where}: namespaced kind without metadata.namespace")
    if namespaced is False and ns:
        raise SchemaError(f"{where}: cluster-scoped kind with metadata.namespace {ns!r}")
    if ns is not None and (len(ns) > 63 or not _LABEL.match(ns)):
        raise SchemaError(f"{where}: metadata.namespace {ns!r} is not a valid DNS-1123 label")
    for key in ("labels", "annotations"):
        for k, v in (meta.get(key) or {}).items():
            if not isinstance(v, str):
                raise SchemaError(f"{where}: metadata.{key}.{k} must be a string")
            if key == "labels" and (len(v) > 63 or not re.match(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", v)):
                raise SchemaError(f"{where}: label {k}={v!r} is not a valid label value")


_CLUSTER_SCOPED_BUILTINS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}


def validate(obj: dict[str, Any]) -> None:
    """Raise :class:`SchemaError` unless ``obj`` is a valid Kubernetes object."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not api_version or not kind:
        raise SchemaError(f"object without apiVersion/kind: {obj}")
    crd = crd_schemas().get((api_version, kind))
    if crd is not None:
        schema, scope = crd
        _check_metadata(obj, scope == "Namespaced")
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(obj), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            path = ".".join(str(p) for p in first.absolute_path)
            raise SchemaError(f"{kind} {obj['metadata'].get('name')}: {path}: {first.message}")
        return
    group = api_version.split("/")[0] if "/" in api_version else ""
    if "." in group and not group.endswith(".k8s.io"):
        raise SchemaError(f"{api_version} {kind}: no CRD schema known for this custom resource")
    _check_metadata(obj, None if kind not in _CLUSTER_SCOPED_BUILTINS else False)
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        raise SchemaError(f"{kind} {obj['metadata'].get('name')}: {path}: {exc.message}") from None


def validate_all(objects: list[dict[str, Any]]) -> int:
    for obj in objects:
        validate(obj)
    return len(objects)
