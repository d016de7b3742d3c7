"""The repository publisher's ``read`` (``pulumi refresh``) against a real Git server: drift on the remote branch
(a force-push, a reset, a deleted branch or repository) shows as a change that ``update`` repairs."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakekube import FakeKube
from publisher_world import forwarded, git, gitea_api_server, props, write_catalog
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from components import gitrepo
from components.management_repository import SECRET_KEYS, RepositoryProvider


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    return write_catalog(tmp_path / "checkout")


def refreshed(provider: RepositoryProvider, id_: str, outs: dict[str, Any], news: dict[str, Any]) -> bool:
    """Refresh, then whether the next preview shows an update (the engine diffs the refreshed outputs)."""
    after = provider.read(id_, outs).outs
    assert after is not None
    return bool(provider.diff(id_, after, news).changes)


def test_refresh_without_drift_changes_nothing(git_server, catalog) -> None:
    provider = RepositoryProvider()
    p = props(git_server, catalog)
    created = provider.create(p)
    assert provider.read(created.id, created.outs).outs == created.outs
    assert not refreshed(provider, created.id, created.outs, p)


@pytest.mark.parametrize("drift", ["reset", "force-push", "deleted-branch", "deleted-repository", "edited-file"])
def test_drift_on_the_remote_shows_in_refresh_and_update_repairs_it(git_server, catalog, tmp_path, drift) -> None:
    provider = RepositoryProvider()
    p = props(git_server, catalog, prefix="platform")
    bare = git_server.bare()
    first = provider.create(p)
    (catalog / "services/podinfo/metadata.yaml").write_text("displayName: Podinfo\n")
    p2 = {**props(git_server, catalog, prefix="platform", url=p["url"]), **{k: p[k] for k in SECRET_KEYS}}
    p2["recipient"] = p["recipient"]
    second = provider.update(first.id, first.outs, p2)
    assert second.outs["committed"]
    work = tmp_path / "work"
    authed = p["url"].replace("http://", f"http://{git_server.username}:{git_server.password}@")
    if drift == "reset":
        git(bare, "update-ref", "refs/heads/main", first.outs["commit"])
    elif drift == "deleted-branch":
        git(bare, "update-ref", "-d", "refs/heads/main")
    elif drift == "deleted-repository":
        shutil.rmtree(bare)
        git_server.create()
    else:
        subprocess.run(["git", "clone", "-q", authed, str(work)], check=True)
        target = work / "platform/services/podinfo/metadata.yaml"
        target.write_text("displayName: hijacked\n")
        if drift == "force-push":
            git(work, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qam", "x", "--amend")
        else:
            git(work, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qam", "x")
        git(work, "push", "-qf", "origin", "HEAD:main")
    after = provider.read(first.id, second.outs).outs
    assert after is not None
    assert after["digest"].startswith("changed on the remote (")
    assert provider.diff(first.id, after, p2).changes is True
    # the secrets stay secret and nothing was written by the refresh
    assert set(after) == set(second.outs)
    repaired = provider.update(first.id, after, p2)
    assert repaired.outs["committed"] is True and repaired.outs["digest"] == p2["digest"]
    assert git(bare, "show", "main:platform/services/podinfo/metadata.yaml") == "displayName: Podinfo\n"
    assert not refreshed(provider, first.id, repaired.outs, p2)


def test_a_push_outside_the_prefix_is_not_drift(git_server, catalog, tmp_path) -> None:
    provider = RepositoryProvider()
    p = props(git_server, catalog, prefix="platform")
    created = provider.create(p)
    other = gitrepo.publish(
        gitrepo.Remote(p["url"], git_server.username, git_server.password), {"README.md": b"hi\n"}, prefix="docs"
    )
    after = provider.read(created.id, created.outs).outs
    assert after is not None
    assert after["commit"] == other.commit and after["digest"] == p["digest"]
    assert provider.diff(created.id, after, p).changes is False


def test_refresh_of_an_unreachable_or_redirecting_server_fails_cleanly(git_server, catalog) -> None:
    provider = RepositoryProvider()
    p = props(git_server, catalog)
    created = provider.create(p)
    with pytest.raises(gitrepo.GitRepoError, match="unreachable") as err:
        provider.read(created.id, {**created.outs, "url": "http://127.0.0.1:9/x/y.git"})
    assert git_server.password not in str(err.value)
    git_server.redirect_to("http://localhost:9")
    with pytest.raises(gitrepo.GitRepoError, match="redirects are refused"):
        provider.read(created.id, created.outs)


# --------------------------------------------------------------------------- through the port-forward


@pytest.fixture
def kube(git_server: Any) -> Iterator[FakeKube]:
    with gitea_api_server(git_server) as fake:
        yield fake


def test_refresh_reaches_gitea_through_the_port_forward_with_the_stacks_kubernetes_config(
    git_server, catalog, kube
) -> None:
    """``read`` gets the outputs only (no cluster credentials there): it uses the stack's ``kubernetes:`` config,
    which the engine passes to the provider (``configure``), for the same port-forward as ``create``."""
    p = forwarded(git_server, catalog, kube)
    provider = RepositoryProvider()
    provider.configure(ConfigureRequest(Config({"kubernetes:kubeconfig": kube.kubeconfig()}, "kommander")))
    created = provider.create(p)
    assert "kubernetes" not in created.outs and kube.token not in json.dumps(created.outs)
    streams = len(kube.streams)
    assert provider.read(created.id, created.outs).outs == created.outs
    assert len(kube.streams) > streams  # the refresh went through the API server's port-forward
    published = len(git(git_server.bare(), "ls-tree", "-r", "--name-only", "main").split())
    git(git_server.bare(), "update-ref", "-d", "refs/heads/main")
    after = provider.read(created.id, created.outs).outs
    assert after is not None
    assert after["digest"] == f"changed on the remote (no branch main: {published} missing, 0 changed, 0 extra)"
