"""Where the state lives and how secrets are encrypted, when the user has not said.

Precedence for the backend: ``PULUMI_BACKEND_URL`` (the user's choice), then an
existing ``pulumi login`` (``credentials.json`` with a current backend), then the
embedded default: a file backend under the project (``.pulumi-state/``, gitignored).

Precedence for secrets: ``--secrets-provider``, then the user's
``PULUMI_CONFIG_PASSPHRASE`` / ``PULUMI_CONFIG_PASSPHRASE_FILE``, then (on the
embedded backend only) a random passphrase generated once per stack and kept beside
the local state as ``.pulumi-state/<stack>.passphrase`` (mode 0600, never committed; by the short name,
so ``dev`` and ``organization/kommander/dev`` share it). A state folder that is a file, or a passphrase path
that is a symbolic link, folder or device, is a :class:`BackendError` and is left as it is.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

STATE_DIR = ".pulumi-state"


@dataclass(frozen=True)
class Backend:
    """The chosen backend and the environment the Pulumi CLI runs with."""

    url: str | None
    """The backend URL passed to the CLI; ``None`` keeps the user's login."""
    source: str
    """Why: ``env``, ``login`` or ``embedded``."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for the workspace (backend URL, passphrase file)."""
    secrets_provider: str | None = None
    """``--secrets-provider`` for a new stack, when the user gave one."""
    passphrase_file: Path | None = None
    """The generated passphrase file, on the embedded backend."""


def pulumi_home(env: Mapping[str, str]) -> Path:
    return Path(env["PULUMI_HOME"]) if env.get("PULUMI_HOME") else Path.home() / ".pulumi"


def logged_in(env: Mapping[str, str]) -> str | None:
    """The backend of the user's ``pulumi login``, if any (read from credentials.json, no CLI needed)."""
    creds = pulumi_home(env) / "credentials.json"
    try:
        data = json.loads(creds.read_text())
    except (OSError, ValueError):
        return None
    current = data.get("current") if isinstance(data, dict) else None
    return current if isinstance(current, str) and current else None


class BackendError(Exception):
    """The state folder or the generated passphrase is not usable as it is (exit 2, nothing touched)."""


def state_dir(project_root: Path) -> Path:
    """The embedded backend's folder, created when absent; a file (or anything but a folder) there is an error."""
    path = project_root / STATE_DIR
    if not path.is_dir() and not os.path.lexists(path):
        path.mkdir()
    if not path.is_dir():
        raise BackendError(f"{path}: not a directory (the embedded backend keeps the stack state there; move it away)")
    return path


def passphrase_file(state_dir: Path, stack: str) -> Path:
    """The stack's passphrase file, created once (0600) with a random passphrase, then reused.

    ``stack`` is the short name (``dev`` for ``organization/kommander/dev``). The file is never
    reached through a symbolic link: one there, or a folder or device, is an error and is left as it is.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"{stack}.passphrase"
    refused = BackendError(
        f"{path}: not a plain file (a symbolic link, folder or device); the generated passphrase of stack "
        f"{stack!r} must be a regular file there: remove it, or set PULUMI_CONFIG_PASSPHRASE_FILE"
    )
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        return path
    if not stat.S_ISREG(path.lstat().st_mode):
        raise refused
    try:
        fd = os.open(path, os.O_RDONLY | nofollow | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        raise refused from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise refused
        os.fchmod(fd, 0o600)
        if not os.read(fd, 4096).strip():
            raise BackendError(f"{path}: is empty: remove it and a new passphrase is generated (for a new stack only)")
    finally:
        os.close(fd)
    return path


def select(project_root: Path, stack: str, env: Mapping[str, str], secrets_provider: str | None = None) -> Backend:
    """Choose the backend and secrets provider for ``stack`` from ``env`` (see the module doc)."""
    extra: dict[str, str] = {}
    if env.get("PULUMI_BACKEND_URL"):
        url: str | None = env["PULUMI_BACKEND_URL"]
        source = "env"
    elif (login := logged_in(env)) is not None:
        url, source = None, f"login ({login})"
    else:
        state = state_dir(project_root)
        url, source = f"file://{state}", "embedded"
        extra["PULUMI_BACKEND_URL"] = url
    user_passphrase = bool(env.get("PULUMI_CONFIG_PASSPHRASE") or env.get("PULUMI_CONFIG_PASSPHRASE_FILE"))
    pass_file: Path | None = None
    if secrets_provider is None and not user_passphrase and source == "embedded":
        pass_file = passphrase_file(project_root / STATE_DIR, stack.rsplit("/", 1)[-1])
        extra["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(pass_file)
    return Backend(url=url, source=source, env=extra, secrets_provider=secrets_provider, passphrase_file=pass_file)
