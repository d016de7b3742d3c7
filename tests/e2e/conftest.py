"""Fixtures of the real-engine suite: the toolchain, a control plane, the status writer, stand-in charts and Gitea.

Everything is started once per session in a temporary directory and stopped at the end. The toolchain comes from
``tools/e2e/install.sh`` (cached outside the clone; ``KOMMANDER_E2E_ROOT`` names an installed one). When anything
the suite needs is missing, every test fails with one line saying what: nothing is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/gitserver.py
sys.path.insert(0, str(HERE))

from charts import cert_manager_chart, flux_chart  # noqa: E402
from cluster import ControlPlane  # noqa: E402
from controllers import StatusWriter  # noqa: E402
from gitserver import GitServer  # noqa: E402
from stack import ROOT, Env  # noqa: E402


def _toolchain() -> Path:
    if os.environ.get("KOMMANDER_E2E_ROOT"):
        return Path(os.environ["KOMMANDER_E2E_ROOT"])
    proc = subprocess.run(
        ["bash", str(ROOT / "tools" / "e2e" / "install.sh")], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        pytest.fail(lines[-1] if lines else f"tools/e2e/install.sh exited {proc.returncode}", pytrace=False)
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def toolchain() -> Path:
    root = _toolchain()
    missing = [
        b
        for b in (
            "pulumi",
            "pulumi-language-python",
            "pulumi-language-python-exec",
            "pulumi-resource-pulumi-python",
            "pulumi-resource-kubernetes",
            "pulumi-resource-random",
            "kube-apiserver",
            "kube-controller-manager",
            "etcd",
        )
        if not os.access(root / "bin" / b, os.X_OK)
    ]
    if missing:
        pytest.fail(f"the e2e toolchain at {root} lacks {', '.join(missing)}: run tools/e2e/install.sh", pytrace=False)
    return root


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def control_plane(toolchain: Path, session_dir: Path) -> Iterator[ControlPlane]:
    plane = ControlPlane(toolchain / "bin", session_dir / "cluster")
    try:
        plane.start()
    except RuntimeError as exc:
        plane.stop()
        pytest.fail(f"control plane: {exc}", pytrace=False)
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane):  # type: ignore[no-untyped-def]
    from kubernetes import config as kube_config

    return kube_config.new_client_from_config(config_file=str(control_plane.kubeconfig))


@pytest.fixture(scope="session")
def status_writer(kube) -> Iterator[StatusWriter]:  # type: ignore[no-untyped-def]
    writer = StatusWriter(kube)
    writer.start()
    yield writer
    writer.stop()


@pytest.fixture(scope="session")
def charts(session_dir: Path) -> dict[str, Path]:
    root = session_dir / "charts"
    return {"flux": flux_chart(root), "certManager": cert_manager_chart(root)}


@pytest.fixture(scope="session")
def gitea(session_dir: Path, kube) -> Iterator[GitServer]:  # type: ignore[no-untyped-def]
    """``git http-backend`` in Gitea's place; it accepts the admin password the stack put in ``gitea-admin``."""
    import base64

    from kubernetes import client

    core = client.CoreV1Api(kube)

    def admin_password() -> str:
        try:
            secret = core.read_namespaced_secret("gitea-admin", "kommander")
        except client.exceptions.ApiException:
            return ""
        return base64.b64decode((secret.data or {}).get("password", "")).decode()

    server = GitServer(session_dir / "gitea", password=admin_password).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def env(
    toolchain: Path,
    control_plane: ControlPlane,
    status_writer: StatusWriter,
    charts: dict[str, Path],
    gitea: GitServer,
    session_dir: Path,
) -> Env:
    return Env(toolchain, control_plane, status_writer, charts, gitea, session_dir)
