"""The schema validator itself: it accepts valid objects and rejects each kind of invalid one."""

from __future__ import annotations

import pytest
from schemas import SchemaError, crd_schemas, validate


def test_crd_schemas_loaded() -> None:
    kinds = {kind for (_, kind) in crd_schemas()}
    assert {"GitRepository", "Kustomization", "HelmRelease", "HelmRepository", "Certificate", "ClusterIssuer"} <= kinds


def _git_repo(**spec) -> dict:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "management", "namespace": "kommander-flux"},
        "spec": {"url": "https://git.example.com/x.git", "interval": "1m", **spec},
    }


def test_valid_objects_pass() -> None:
    validate(_git_repo(ref={"branch": "main"}))
    validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "y"}, "data": {}})


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (_git_repo(refx={"branch": "main"}), "Additional properties are not allowed"),
        (_git_repo(interval=5), "is not of type 'string'"),
        ({**_git_repo(), "metadata": {"name": "Bad_Name", "namespace": "x"}}, "not a valid DNS-1123"),
        ({**_git_repo(), "metadata": {"name": "x"}}, "namespaced kind without metadata.namespace"),
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "y"}, "dat": {}},
            "ConfigMap x",
        ),
        ({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "x"}}, "no CRD schema known"),
        (
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "ClusterIssuer",
                "metadata": {"name": "x", "namespace": "y"},
                "spec": {"selfSigned": {}},
            },
            "cluster-scoped kind with metadata.namespace",
        ),
    ],
)
def test_invalid_objects_fail(obj: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        validate(obj)
