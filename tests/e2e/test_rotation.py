"""The README's key rotations (Operations, "Keys and passwords") on a protected stack, run as written with the
Pulumi CLI: afterwards Flux can still decrypt (the ``sops-age`` Secret opens the repository's encrypted files) and
pull (the credentials Secret it reads are the ones Gitea accepts). In order, one stack."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import prodlike
import pyrage
import pytest
import yaml
from kubernetes import client
from stack import Env, Stack

from components import gitrepo
from components.tenancy_plan import REQUESTED_AT

SECRET_FILE = f"{gitrepo.SECRETS_DIR}/{gitrepo.GITEA_SECRET}.enc.yaml"


@pytest.fixture(scope="module")
def rotated(env: Env) -> Iterator[Stack]:
    with prodlike.repository(env):
        stack = prodlike.create(env, "rotation", projects=2, protect=True)
        stack.ok("up", "--json")
        yield stack
        stack.pulumi("state", "unprotect", "--all", "--yes", check=False)
        stack.run("destroy", "--yes", "--json")


def urn_of(stack: Stack, name: str) -> str:
    """The URN ``pulumi stack --show-urns`` lists for the resource named ``name``."""
    listing = stack.pulumi("stack", "--show-urns").stdout
    urns = [w for w in listing.split() if w.startswith("urn:pulumi:") and w.endswith(f"::{name}")]
    assert len(urns) == 1, f"{name}: {urns}\n{listing}"
    return urns[0]


def secret(kube, namespace: str, name: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    data = client.CoreV1Api(kube).read_namespaced_secret(name, namespace).data or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def published(env: Env, path: str) -> bytes:
    """A file of the management repository as Gitea serves it (the branch Flux pulls)."""
    prefix = subprocess.run(
        ["git", "-C", str(env.gitea.bare()), "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    matches = [p for p in prefix if p == path or p.endswith("/" + path)]
    assert len(matches) == 1, f"{path} in the repository: {matches}"
    return subprocess.run(
        ["git", "-C", str(env.gitea.bare()), "show", f"main:{matches[0]}"], capture_output=True, check=True
    ).stdout


def flux_can_pull(env: Env, kube, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    """Clone the repository with the credentials Flux's GitRepository reads (its ``secretRef``)."""
    repo = client.CustomObjectsApi(kube).list_namespaced_custom_object(
        "source.toolkit.fluxcd.io", "v1", "kommander-flux", "gitrepositories"
    )["items"]
    refs = {r["spec"].get("secretRef", {}).get("name") for r in repo if "kommander" in r["spec"]["url"]}
    assert len(refs) == 1 and None not in refs, refs
    creds = secret(kube, "kommander-flux", refs.pop())
    url = env.gitea.base_url.replace("http://", f"http://{creds['username']}:{creds['password']}@")
    proc = subprocess.run(
        ["git", "clone", "--quiet", f"{url}/kommander-admin/kommander.git", str(tmp)],
        capture_output=True,
        text=True,
        check=False,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin", "HOME": str(tmp.parent)},
    )
    assert proc.returncode == 0, "Flux's credentials no longer pull: " + proc.stderr.replace(creds["password"], "***")


def flux_can_decrypt(env: Env, kube) -> str:  # type: ignore[no-untyped-def]
    """Decrypt the published credentials with the key in ``sops-age`` (what kustomize-controller does); the
    password in them."""
    identity = secret(kube, "kommander-flux", "sops-age")["age.agekey"]
    sops_yaml = yaml.safe_load(published(env, ".sops.yaml"))
    recipients = {r["age"] for r in sops_yaml["creation_rules"]}
    doc = yaml.safe_load(gitrepo.decrypt(published(env, SECRET_FILE), identity))
    public = str(pyrage.x25519.Identity.from_str(identity.strip()).to_public())
    assert recipients == {public}, ".sops.yaml encrypts for a key Flux does not hold"
    return str(doc["stringData"]["password"])


def flux_took_the_commit(stack: Stack) -> None:
    """The ``up`` that published a commit waited for Flux to take it: the ``management`` GitRepository and the
    ``apps-kommander`` Kustomization the state records ask Flux for that commit (``reconcile.fluxcd.io/requestedAt``)
    and show it handled (``status.lastHandledReconcileAt``, what ``flux reconcile`` waits for)."""
    resources = {r["urn"].rsplit("::", 1)[1]: r for r in json.loads(stack.export())["deployment"]["resources"]}
    commit = resources["kommander-management-repository-content"]["outputs"]["commit"]
    for name in ("kommander-flux-configuration-repository", "kommander-flux-configuration-kustomization"):
        recorded = resources[name]["outputs"]
        assert recorded["metadata"]["annotations"][REQUESTED_AT] == commit, f"{name} asks for another commit"
        assert (recorded.get("status") or {}).get("lastHandledReconcileAt") == commit, (
            f"{name}: the state records it before Flux took {commit}: {recorded.get('status')}"
        )


def test_rotate_the_age_key(rotated: Stack, env: Env, kube, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    old_key = secret(kube, "kommander-flux", "sops-age")["age.agekey"]
    old_file = published(env, SECRET_FILE)
    urn = urn_of(rotated, "kommander-sops-age-key")
    rotated.pulumi("state", "unprotect", urn, "--yes")
    rotated.pulumi("state", "unprotect", urn_of(rotated, "kommander-sops-age-secret"), "--yes")
    rotated.pulumi("up", "--replace", urn, "--yes", "--skip-preview")
    new_key = secret(kube, "kommander-flux", "sops-age")["age.agekey"]
    assert new_key != old_key
    password = flux_can_decrypt(env, kube)
    assert password == secret(kube, "kommander", "gitea-admin")["password"]
    assert published(env, SECRET_FILE) != old_file
    with pytest.raises(gitrepo.GitRepoError):
        gitrepo.decrypt(published(env, SECRET_FILE), old_key)
    assert old_key not in rotated.pulumi("stack", "export", "--show-secrets").stdout, "the old key is still in state"
    flux_can_pull(env, kube, tmp_path / "clone")
    state = {r["urn"]: r for r in json.loads(rotated.export())["deployment"]["resources"]}
    assert state[urn].get("protect"), "the new key is not protected"
    assert state[urn_of(rotated, "kommander-sops-age-secret")].get("protect"), "sops-age is not protected"
    flux_took_the_commit(rotated)
    after = rotated.run("preview", "--expect-no-changes", "--diff")
    assert after.code == 0, after


def test_rotate_the_gitea_password(rotated: Stack, env: Env, kube, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    old = secret(kube, "kommander", "gitea-admin")["password"]
    urn = urn_of(rotated, "kommander-gitea-admin-password")
    rotated.pulumi("state", "unprotect", urn, "--yes")
    rotated.pulumi("state", "unprotect", urn_of(rotated, "kommander-gitea-admin"), "--yes")
    rotated.pulumi("up", "--replace", urn, "--yes", "--skip-preview")
    new = secret(kube, "kommander", "gitea-admin")["password"]
    assert new != old
    assert flux_can_decrypt(env, kube) == new
    flux_can_pull(env, kube, tmp_path / "clone")
    state = {r["urn"]: r for r in json.loads(rotated.export())["deployment"]["resources"]}
    assert state[urn].get("protect"), "the new password is not protected"
    assert state[urn_of(rotated, "kommander-gitea-admin")].get("protect"), "gitea-admin is not protected"
    flux_took_the_commit(rotated)
    assert rotated.run("preview", "--expect-no-changes", "--json").code == 0
