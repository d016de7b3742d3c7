"""The e2e toolchain's pins agree with each other, and the installer fails loudly when it can do nothing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools" / "e2e"


def requirement(gomod: Path, module: str) -> str:
    """The version ``gomod`` requires of ``module`` (a require line, direct or indirect)."""
    for line in gomod.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "require":
            parts = parts[1:]
        if len(parts) >= 2 and parts[0] == module and parts[1].startswith("v"):
            return parts[1]
    raise AssertionError(f"{gomod} requires no {module}")


def test_kubernetes_staging_modules_are_replaced_by_the_release_of_the_same_minor_and_patch() -> None:
    gomod = TOOLS / "kube" / "go.mod"
    kubernetes = requirement(gomod, "k8s.io/kubernetes")
    staging = re.findall(r"^\s*(k8s\.io/\S+) => (k8s\.io/\S+) (v\S+)$", gomod.read_text(), re.M)
    assert len(staging) > 20
    for old, new, version in staging:
        assert old == new
        assert version == "v0." + kubernetes.removeprefix("v1."), f"{old} {version} is not {kubernetes}'s"


def test_etcd_is_the_version_kube_apiserver_requires() -> None:
    wanted = requirement(TOOLS / "kube" / "go.mod", "go.etcd.io/etcd/client/v3")
    assert requirement(TOOLS / "etcd" / "go.mod", "go.etcd.io/etcd/server/v3") == wanted


def test_language_host_is_built_against_the_engines_sdk() -> None:
    gomod = TOOLS / "pulumi" / "go.mod"
    assert requirement(gomod, "github.com/pulumi/pulumi/sdk/v3") == requirement(
        gomod, "github.com/pulumi/pulumi/pkg/v3"
    )


def test_random_provider_is_stamped_with_the_release_the_sdk_asks_for() -> None:
    pinned = re.search(r"^pulumi-random==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    stamp = re.search(r"^// pulumi-random-version: (\S+)$", (TOOLS / "random" / "go.mod").read_text(), re.M)
    assert pinned and stamp and pinned.group(1) == stamp.group(1)


def test_installer_without_downloads_or_go_stops_with_one_line(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KOMMANDER_E2E_CACHE": str(tmp_path / "cache"),
        "KOMMANDER_E2E_BUILD": "1",  # no downloads
    }
    bare = tmp_path / "bin"
    bare.mkdir()
    for d in ("/usr/local/bin", "/usr/bin", "/bin"):  # every command of the machine, except go
        for tool in Path(d).iterdir() if Path(d).is_dir() else ():
            if tool.name != "go" and not (bare / tool.name).exists():
                (bare / tool.name).symlink_to(tool)
    env["PATH"] = str(bare)
    proc = subprocess.run(
        [str(bare / "bash"), str(TOOLS / "install.sh"), "etcd"], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("e2e toolchain: cannot get etcd v3.6.8") and "Go is not installed" in lines[0]


def test_a_failing_build_stops_the_installer(tmp_path: Path) -> None:
    """A part that fails to build ends the run with a non-zero exit and no toolchain root (a failure inside a
    command substitution must not be swallowed)."""
    bare = tmp_path / "bin"
    bare.mkdir()
    for d in ("/usr/local/bin", "/usr/bin", "/bin"):
        for tool in Path(d).iterdir() if Path(d).is_dir() else ():
            if tool.name != "go" and not (bare / tool.name).exists():
                (bare / tool.name).symlink_to(tool)
    fake_go = bare / "go"
    fake_go.write_text("#!/bin/sh\necho 'go: simulated compile error' >&2\nexit 1\n")
    fake_go.chmod(0o755)
    env = {
        "PATH": str(bare),
        "HOME": str(tmp_path),
        "KOMMANDER_E2E_CACHE": str(tmp_path / "cache"),
        "KOMMANDER_E2E_BUILD": "1",
    }
    proc = subprocess.run(
        [str(bare / "bash"), str(TOOLS / "install.sh"), "etcd kube"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert proc.stdout == "", "a failed run must not print a toolchain root"
    assert "building etcd v3.6.8 from Go modules failed" in proc.stderr
    assert "kube-apiserver" not in proc.stderr, "the run went on after a failed part"
    assert "ready in" not in proc.stderr
