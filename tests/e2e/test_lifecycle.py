"""The dev stack's life under the real engine: preview on an empty cluster, up, no-change runs, refresh and drift,
secrets, destroy. The tests of this module run in order on one stack."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from stack import Env, Stack

CANARY = "e2e-canary-7f3a9c"


@pytest.fixture(scope="module")
def dev(env: Env) -> Iterator[Stack]:
    stack = env.stack("dev")
    stack.write_config(env.base_config())
    env.gitea.create("kommander-admin", "kommander")
    yield stack


def _objects(kube, group: str, version: str, plural: str) -> list[dict]:  # type: ignore[no-untyped-def]
    try:
        return client.CustomObjectsApi(kube).list_cluster_custom_object(group, version, plural)["items"]
    except ApiException as exc:
        if exc.status == 404:
            return []
        raise


def _namespaces(kube) -> set[str]:  # type: ignore[no-untyped-def]
    return {n.metadata.name for n in client.CoreV1Api(kube).list_namespace().items}


def test_preview_on_an_empty_cluster(dev: Stack, kube) -> None:  # type: ignore[no-untyped-def]
    assert "kommander" not in _namespaces(kube)
    result = dev.ok("preview", "--json")
    changes = result.json["changes"]
    assert changes.get("create", 0) > 20, result
    assert "kommander" not in _namespaces(kube), "preview created something"


def test_up_installs_and_converges(dev: Stack, kube, env: Env) -> None:  # type: ignore[no-untyped-def]
    result = dev.ok("up", "--json")
    assert result.json["changes"].get("create", 0) > 20
    assert {"kommander", "kommander-flux", "cert-manager"} <= _namespaces(kube)
    # what the stack waited on was Ready on the server, written by the stand-in controllers
    kinds = {k for k, _ns, _n in env.writer.written}
    assert {"Certificate", "ClusterIssuer", "HelmRelease", "GitRepository", "Kustomization"} <= kinds
    ca = client.CoreV1Api(kube).read_namespaced_secret("kommander-ca", "cert-manager")
    assert ca.type == "kubernetes.io/tls"
    # the management repository was pushed to Gitea (here: git http-backend)
    log = subprocess.run(
        ["git", "-C", str(env.gitea.bare()), "log", "--format=%H", "main"], capture_output=True, text=True, check=True
    )
    assert len(log.stdout.split()) == 1
    assert result.json["outputs"]["managementRepositoryCommit"] == log.stdout.split()[0]
    assert not env.writer.errors


def test_no_changes_after_up(dev: Stack, env: Env) -> None:
    pushes = [r for r in env.gitea.requests if "git-receive-pack" in r and r.startswith("POST")]
    preview = dev.run("preview", "--expect-no-changes", "--json")
    assert preview.code == 0, preview
    again = dev.ok("up", "--json")
    assert again.json["changed"] is False, again.json["changes"]
    assert [r for r in env.gitea.requests if "git-receive-pack" in r and r.startswith("POST")] == pushes


def test_refresh_right_after_up_finds_no_drift(dev: Stack) -> None:
    result = dev.ok("refresh", "--json")
    assert result.json["changed"] is False, result.json["changes"]


def test_drift_behind_the_stacks_back_is_reported_and_repaired(dev: Stack, kube) -> None:  # type: ignore[no-untyped-def]
    custom = client.CustomObjectsApi(kube)
    core = client.CoreV1Api(kube)
    custom.patch_namespaced_custom_object(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "kommander-flux",
        "kustomizations",
        "apps-kommander",
        {"spec": {"interval": "59m"}},
    )
    core.delete_namespaced_config_map("substitution-vars", "kommander-flux")
    drift = dev.run("preview", "--refresh", "--expect-no-changes", "--json")
    assert drift.code == 3, drift
    dev.ok("up", "--refresh", "--json")
    k = custom.get_namespaced_custom_object(
        "kustomize.toolkit.fluxcd.io", "v1", "kommander-flux", "kustomizations", "apps-kommander"
    )
    assert k["spec"]["interval"] != "59m"
    assert core.read_namespaced_config_map("substitution-vars", "kommander-flux").data
    assert dev.run("preview", "--refresh", "--expect-no-changes", "--json").code == 0


def test_no_secret_in_plaintext(dev: Stack, kube, env: Env) -> None:  # type: ignore[no-untyped-def]
    password = base64.b64decode(
        client.CoreV1Api(kube).read_namespaced_secret("gitea-admin", "kommander").data["password"]
    ).decode()
    assert len(password) >= 16
    state = dev.export()
    assert password not in state
    for cm in client.CoreV1Api(kube).list_config_map_for_all_namespaces().items:
        assert password not in str(cm.data), f"ConfigMap {cm.metadata.namespace}/{cm.metadata.name}"
    objects = subprocess.run(
        ["git", "-C", str(env.gitea.bare()), "rev-list", "--objects", "--all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert objects
    for line in objects:
        sha = line.split()[0]
        body = subprocess.run(
            ["git", "-C", str(env.gitea.bare()), "cat-file", "-p", sha], capture_output=True, check=True
        )
        assert password.encode() not in body.stdout, line


def test_destroy_leaves_nothing(dev: Stack, kube, control_plane) -> None:  # type: ignore[no-untyped-def]
    dev.ok("destroy", "--json")
    assert not {"kommander", "kommander-flux", "cert-manager"} & _namespaces(kube)
    for group, version, plural in (
        ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
        ("source.toolkit.fluxcd.io", "v1", "gitrepositories"),
        ("helm.toolkit.fluxcd.io", "v2", "helmreleases"),
    ):
        assert _objects(kube, group, version, plural) == []


def test_destroy_deleted_custom_resources_before_their_controllers(control_plane) -> None:  # type: ignore[no-untyped-def]
    """From the API server's audit log: no Flux or cert-manager object was deleted after its controller's Helm
    release (the release's Secret) or its CRD."""
    deletes = [
        e
        for e in control_plane.audit_events()
        if e.get("verb") == "delete" and e.get("stage") == "ResponseComplete" and e["responseStatus"]["code"] < 300
    ]
    assert deletes, "the audit log holds no delete"

    def when(pred) -> list[int]:  # type: ignore[no-untyped-def]
        return [i for i, e in enumerate(deletes) if pred(e["objectRef"])]

    for release, groups in (
        ("flux", ("source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io")),
        ("cert-manager", ("cert-manager.io",)),
    ):
        objects = when(lambda o, g=groups: o.get("apiGroup") in g)
        assert objects, f"no {release} object was deleted"
        uninstall = when(
            lambda o, r=release: (
                o.get("resource") == "secrets" and o.get("name", "").startswith(f"sh.helm.release.v1.{r}.")
            )
        )
        assert uninstall, f"the {release} release was not uninstalled"
        assert max(objects) < min(uninstall), f"a {release} object was deleted after its controller's release"
        crds = when(
            lambda o, g=groups: (
                o.get("resource") == "customresourcedefinitions" and o.get("name", "").split(".", 1)[-1] in g
            )
        )
        if crds:
            assert max(objects) < min(crds), f"a {release} object was deleted after its CRD"
