"""Find or install the Pulumi CLI at the version the SDK is pinned to."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from pulumi.automation import PulumiCommand
from semver import VersionInfo

#: The CLI version: the ``pulumi`` SDK pinned in requirements.txt.
PULUMI_VERSION = "3.272.0"

INSTALL_HINT = (
    f"install Pulumi CLI v{PULUMI_VERSION} (curl -fsSL https://get.pulumi.com | sh -s -- --version {PULUMI_VERSION}, "
    "see https://www.pulumi.com/docs/install/) and put `pulumi` on PATH"
)


#: Seconds a download may stay silent before the install gives up (a proxy that never answers).
DOWNLOAD_TIMEOUT = 60.0


class CliUnavailableError(Exception):
    """The Pulumi CLI is neither present nor installable; the message is one line saying what to do."""


def install_root(home: Path | None = None) -> Path:
    """The per-user folder the pinned CLI is installed into."""
    return (home or Path.home()) / ".pulumi-kommander" / "cli" / PULUMI_VERSION


def ensure(home: Path | None = None, *, timeout: float = DOWNLOAD_TIMEOUT) -> PulumiCommand:
    """The pinned CLI from the per-user folder, else a ``pulumi`` on PATH, else install the pinned one."""
    version = VersionInfo.parse(PULUMI_VERSION)
    root = install_root(home)
    if (root / "bin" / "pulumi").exists():
        try:
            return PulumiCommand(root=str(root), version=version)
        except Exception:  # a broken install is reinstalled below
            pass
    if shutil.which("pulumi"):
        try:
            return PulumiCommand()
        except Exception:  # too old or broken: install the pinned one
            pass
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # the SDK's download takes no timeout of its own
    try:
        return PulumiCommand.install(root=str(root), version=version)
    except Exception as exc:  # any download/install failure becomes one clear line
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
            reason = f"the download got no answer within {timeout:g} s"
        raise CliUnavailableError(
            f"the Pulumi CLI is missing and could not be installed ({reason[:200]}); {INSTALL_HINT}"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
