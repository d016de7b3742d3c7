"""Upgrade: a prod-like, protected stack brought up by the previous release of this project, then by the current
one, in place (same state, same stack file), as a user pulling a new release does.

The previous release is the commit recorded in ``tests/e2e/previous-release`` (README, Tests: a release updates
it), taken with ``git archive`` from the clone's own history, with a virtualenv of its own ``requirements.txt``.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import prodlike
import pytest
from kubernetes import client
from stack import ROOT, Env, Stack

RECORD = ROOT / "tests" / "e2e" / "previous-release"

#: Resource types whose replacement loses data or breaks what depends on them (besides anything protected).
STATEFUL_TYPES = (
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:helm.sh/v3:Release",
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
    "kubernetes:cert-manager.io/v1:Certificate",
    "random:index/randomPassword:RandomPassword",
    "pulumi-python:dynamic:Resource",
)


def previous_release() -> str:
    commit = RECORD.read_text().strip()
    found = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True, check=False
    )
    if found.returncode != 0:
        pytest.fail(
            f"the previous release {commit} (tests/e2e/previous-release) is not in this clone's history: "
            "fetch it (a full clone) or update the record",
            pytrace=False,
        )
    return commit


def resources(stack: Stack) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in json.loads(stack.export())["deployment"]["resources"]}


def type_of(urn: str) -> str:
    return urn.split("::")[-2].split("$")[-1]


@pytest.fixture(scope="module")
def upgrade(env: Env) -> Iterator[Stack]:
    with prodlike.repository(env):
        commit = previous_release()
        stack = env.stack_at("upgrade", commit)
        cfg = prodlike.config(env, "upgrade", projects=4, protect=True)
        stack.write_config(cfg)
        stack.init()
        prodlike.set_kubeconfigs(stack, cfg)
        yield stack
        stack.pulumi("state", "unprotect", "--all", "--yes", check=False)
        stack.run("destroy", "--yes", "--json")


def server_identity(kube) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """What must survive an upgrade on the server: namespace UIDs, the generated credentials, the age key."""
    core = client.CoreV1Api(kube)
    out = {
        f"namespace/{n.metadata.name}": n.metadata.uid
        for n in core.list_namespace().items
        if n.metadata.name in ("kommander", "kommander-flux", "cert-manager", "ws0", "p0")
    }
    for ns, name in (("kommander", "gitea-admin"), ("kommander-flux", "sops-age")):
        secret = core.read_namespaced_secret(name, ns)
        out[f"secret/{name}"] = secret.metadata.uid
        for key, value in (secret.data or {}).items():
            out[f"secret/{name}/{key}"] = base64.b64decode(value).decode()
    return out


class TestUpgrade:
    before: dict[str, dict[str, Any]] = {}
    identity: dict[str, str] = {}

    def test_previous_release_up(self, upgrade: Stack, kube) -> None:  # type: ignore[no-untyped-def]
        result = upgrade.ok("up", "--json")
        assert result.json["changes"].get("create", 0) > 40, result
        TestUpgrade.before = resources(upgrade)
        TestUpgrade.identity = server_identity(kube)
        assert any(r.get("protect") for r in TestUpgrade.before.values()), "protect on, yet nothing protected"

    def test_current_release_replaces_and_deletes_nothing_stateful(self, upgrade: Stack) -> None:
        assert TestUpgrade.before, "the previous release's up did not run"
        upgrade.upgrade()
        preview = upgrade.pulumi("preview", "--json", check=False)
        assert preview.code == 0, f"the current release's preview of the upgrade failed: {preview}"
        steps = json.loads(preview.stdout).get("steps", [])
        bad = sorted(
            f"{s['op']} {s['urn']}"
            for s in steps
            if s["op"] in ("replace", "create-replacement", "delete-replaced", "delete", "discard")
            and (TestUpgrade.before.get(s["urn"], {}).get("protect") or type_of(s["urn"]) in STATEFUL_TYPES)
        )
        assert not bad, "the upgrade would replace or delete stateful resources:\n" + "\n".join(bad)

    def test_current_release_up_converges(self, upgrade: Stack, kube) -> None:  # type: ignore[no-untyped-def]
        assert TestUpgrade.before, "the previous release's up did not run"
        result = upgrade.run("up", "--json")
        assert result.code == 0, f"the current release's up of the upgrade failed: {result}"
        after = resources(upgrade)
        lost = sorted(u for u, r in TestUpgrade.before.items() if r.get("protect") and u not in after)
        assert not lost, f"protected resources gone after the upgrade: {lost}"
        changed = sorted(
            u
            for u, r in TestUpgrade.before.items()
            if r.get("protect") and u in after and after[u].get("id") != r.get("id")
        )
        assert not changed, f"protected resources with a new id after the upgrade: {changed}"
        assert server_identity(kube) == TestUpgrade.identity, "namespaces, credentials or the age key changed"

    def test_second_up_is_a_no_op(self, upgrade: Stack) -> None:
        preview = upgrade.run("preview", "--expect-no-changes", "--json")
        assert preview.code == 0, f"changes after the upgrade converged: {preview}"
        again = upgrade.ok("up", "--json")
        assert again.json["changed"] is False, again.json["changes"]
