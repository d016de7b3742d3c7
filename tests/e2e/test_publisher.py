"""The repository publisher under the real engine: drift on the remote branch (a force-push, a deleted branch)
is found by ``preview --refresh --expect-no-changes`` (exit 3) and repaired by ``up``. In order, one stack."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from stack import Env, Stack

REPOSITORY = "publisher-drift"


@pytest.fixture(scope="module")
def stack(env: Env) -> Iterator[Stack]:
    env.gitea.create("kommander-admin", REPOSITORY)
    stack = env.stack("publisher")
    config = env.base_config("publisher")
    config["kommander:gitea"] = {**config["kommander:gitea"], "repository": REPOSITORY}
    stack.write_config(config)
    stack.ok("up", "--json")
    yield stack
    stack.run("destroy", "--yes", "--json")


def git(env: Env, *args: str) -> str:
    bare = env.gitea.bare("kommander-admin", REPOSITORY)
    return subprocess.run(["git", "-C", str(bare), *args], capture_output=True, text=True, check=True).stdout


def head(env: Env) -> str:
    return git(env, "rev-parse", "main").strip()


def assert_drift_found_then_repaired(stack: Stack, env: Env, published: dict[str, str]) -> None:
    preview = stack.run("preview", "--refresh", "--expect-no-changes", "--json")
    assert preview.code == 3, preview
    assert preview.json["changes"].get("update", 0) >= 1, preview.json["changes"]
    up = stack.ok("up", "--refresh", "--json")
    assert up.json["outputs"]["managementRepositoryCommit"] == head(env)
    tree = blobs(env)
    assert set(tree) == set(published)
    # the same files again; an encrypted secret with nothing to compare against is encrypted anew
    plain = {p for p in published if not p.startswith("secrets/")}
    assert {p: tree[p] for p in plain} == {p: published[p] for p in plain}
    again = stack.run("preview", "--refresh", "--expect-no-changes", "--json")
    assert again.code == 0, again


def blobs(env: Env) -> dict[str, str]:
    return dict(line.split("\t", 1)[::-1] for line in git(env, "ls-tree", "-r", "main").splitlines())


def test_no_drift_right_after_up(stack: Stack) -> None:
    preview = stack.run("preview", "--refresh", "--expect-no-changes", "--json")
    assert preview.code == 0, preview


def test_a_force_pushed_branch_is_found_and_repaired(stack: Stack, env: Env) -> None:
    """Someone replaces the branch with a commit of their own that lacks a published file."""
    published = blobs(env)
    path = sorted(p for p in published if p.startswith("clusters/"))[0]
    bare = env.gitea.bare("kommander-admin", REPOSITORY)
    who = {"GIT_AUTHOR_NAME": "x", "GIT_AUTHOR_EMAIL": "x@x", "GIT_COMMITTER_NAME": "x", "GIT_COMMITTER_EMAIL": "x@x"}
    environ = {"PATH": os.environ["PATH"], "GIT_DIR": str(bare), "GIT_INDEX_FILE": str(bare / "e2e.index"), **who}

    def run(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            ["git", *args], input=stdin, env=environ, capture_output=True, text=True, check=True
        ).stdout.strip()

    run("read-tree", "main")
    run("rm", "-q", "--cached", path)
    forced = run("commit-tree", run("write-tree"), stdin="someone else's history\n")  # no parent: a new history
    (bare / "e2e.index").unlink()
    run("update-ref", "refs/heads/main", forced)
    assert path not in blobs(env)
    assert_drift_found_then_repaired(stack, env, published)


def test_a_deleted_branch_is_found_and_repaired(stack: Stack, env: Env) -> None:
    published = blobs(env)
    git(env, "update-ref", "-d", "refs/heads/main")
    assert_drift_found_then_repaired(stack, env, published)
