"""``make up`` on a first run: tools/kind-up.sh with fake ``kind`` and ``docker`` executables on PATH."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "kind-up.sh"

#: Records its arguments and, like kind, writes a kubeconfig whose current context is kind-<name>.
FAKE_KIND = """#!/bin/sh
echo "$@" >> "$CALLS"
cfg="${KUBECONFIG:-$HOME/.kube/config}"
mkdir -p "$(dirname "$cfg")"
printf 'apiVersion: v1\\nkind: Config\\ncurrent-context: kind-kommander\\n' > "$cfg"
"""


def run(tmp_path: Path, tools: tuple[str, ...], stack: str = "dev", kubeconfig: str | None = None) -> tuple[int, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        (bin_dir / tool).write_text(FAKE_KIND if tool == "kind" else "#!/bin/sh\nexit 0\n")
        (bin_dir / tool).chmod(0o755)
    # only the basics beside the fakes: no real kind or docker from this machine
    for needed in ("bash", "grep", "dirname", "mkdir", "printf", "sh", "cat"):
        found = shutil.which(needed)
        if found and not (bin_dir / needed).exists():
            (bin_dir / needed).symlink_to(found)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path / "home"), "CALLS": str(tmp_path / "calls")}
    if kubeconfig is not None:
        env["KUBECONFIG"] = kubeconfig
    done = subprocess.run(["bash", str(SCRIPT), stack], env=env, capture_output=True, text=True, cwd=tmp_path)
    return done.returncode, done.stderr


def calls(tmp_path: Path) -> list[str]:
    path = tmp_path / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_no_context_creates_the_kind_cluster_from_kind_config(tmp_path: Path) -> None:
    code, err = run(tmp_path, ("kind", "docker"))
    assert code == 0, err
    assert calls(tmp_path) == [f"create cluster --name kommander --config {ROOT / 'kind-config.yaml'}"]
    # the second run finds the context kind made current and creates nothing
    assert run(tmp_path, ("kind", "docker"))[0] == 0 and len(calls(tmp_path)) == 1


@pytest.mark.parametrize(
    ("tools", "missing"),
    [
        ((), "install Docker (https://docs.docker.com/get-docker/) and kind ("),
        (("kind",), "install Docker (https://docs.docker.com/get-docker/) for a local kind cluster"),
        (("docker",), "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation) for"),
    ],
)
def test_without_kind_or_docker_one_line_says_what_to_install(
    tmp_path: Path, tools: tuple[str, ...], missing: str
) -> None:
    code, err = run(tmp_path, tools)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: no kube context to deploy to: ")
    assert missing in err and err.rstrip().endswith("or set kubernetes:context in Pulumi.dev.yaml")
    assert calls(tmp_path) == []


def test_an_existing_context_or_a_stack_context_is_left_alone(tmp_path: Path) -> None:
    config = tmp_path / "other-config"
    config.write_text("apiVersion: v1\nkind: Config\ncurrent-context: my-cluster\n")
    assert run(tmp_path, ("kind", "docker"), kubeconfig=f"{tmp_path / 'absent'}:{config}")[0] == 0
    assert run(tmp_path, ("kind", "docker"), stack="staging")[0] == 0  # Pulumi.staging.yaml names its context
    assert calls(tmp_path) == []
    empty = tmp_path / "empty-config"
    empty.write_text('apiVersion: v1\nkind: Config\ncurrent-context: ""\n')
    assert run(tmp_path, ("kind", "docker"), kubeconfig=str(empty))[0] == 0
    assert len(calls(tmp_path)) == 1, "an empty current-context is no context"


def test_make_up_runs_it_before_the_stack_and_kind_config_maps_gitea() -> None:
    recipe = re.search(r"^up:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe is not None
    steps = [line.strip() for line in recipe.group(1).splitlines()]
    assert steps == ["tools/kind-up.sh $(STACK)", "$(BIN)/python -m automation up --stack $(STACK)"]
    kind = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    node_port = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]["kommander:gitea"]["nodePort"]
    mapping = kind["nodes"][0]["extraPortMappings"][0]
    assert (mapping["containerPort"], mapping["hostPort"]) == (node_port, node_port)
    assert os.access(SCRIPT, os.X_OK)
