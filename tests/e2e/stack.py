"""Stacks of the real-engine suite: a copy of the project per test stack, run through the project's own driver.

Each :class:`Stack` lives in its own copy of the project (the files git knows, and the project's ``.venv`` linked
in), with state in the driver's embedded file backend. Commands go through ``python -m automation`` in a
subprocess, with the toolchain's ``bin`` first on PATH and automatic plugin downloads turned off, so the engine
runs exactly the binaries the toolchain installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from automation import backend  # noqa: E402

#: How long one driver command may take.
COMMAND_TIMEOUT = 900


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-6000:]}"


@dataclass
class Env:
    """What every stack of a session shares: the toolchain, the cluster, the status writer, charts and Gitea."""

    toolchain: Path
    plane: Any
    writer: Any
    charts: dict[str, Path]
    gitea: Any
    session_dir: Path
    _count: int = field(default=0, init=False)

    def process_env(self) -> dict[str, str]:
        home = self.session_dir / "home"
        home.mkdir(exist_ok=True)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "KUBECONFIG")) and k != "VIRTUAL_ENV"
        }
        env.update(
            {
                "HOME": str(home),
                "PATH": os.pathsep.join(
                    [str(self.toolchain / "bin"), str(ROOT / ".venv" / "bin"), env.get("PATH", "")]
                ),
                "PULUMI_HOME": str(self.session_dir / "pulumi-home"),
                "PULUMI_SKIP_UPDATE_CHECK": "true",
                "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
                "PULUMI_SKIP_CONFIRMATIONS": "true",
                "KUBECONFIG": str(self.plane.kubeconfig),
                "GIT_TERMINAL_PROMPT": "0",
            }
        )
        return env

    def base_config(self, cluster_name: str = "e2e") -> dict[str, Any]:
        """A dev-like stack on this session's cluster, Gitea and stand-in charts."""
        return {
            "kubernetes:kubeconfig": str(self.plane.kubeconfig),
            "kommander:clusterName": cluster_name,
            "kommander:protect": "false",
            "kommander:charts": {k: str(v) for k, v in self.charts.items()},
            "kommander:gitea": {"externalUrl": self.gitea.base_url},
        }

    def stack(self, name: str) -> Stack:
        project = self.session_dir / "projects" / name
        if project.exists():
            shutil.rmtree(project)
        files = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
        for rel in files:
            src = ROOT / rel
            if not src.is_file() or rel.startswith("tests/"):
                continue
            dst = project / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        (project / ".venv").symlink_to(ROOT / ".venv")
        return Stack(self, project, name)


@dataclass
class Stack:
    env: Env
    project: Path
    name: str

    def process_env(self) -> dict[str, str]:
        env = self.env.process_env()
        env.update(backend.select(self.project, self.name, env).env)
        return env

    def write_config(self, config: dict[str, Any]) -> None:
        """Replace the stack file's config, keeping what the CLI keeps there (``encryptionsalt``)."""
        path = self.project / f"Pulumi.{self.name}.yaml"
        doc = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
        doc["config"] = config
        path.write_text(yaml.safe_dump(doc, sort_keys=False))

    def _process(self, argv: list[str]) -> Result:
        proc = subprocess.run(
            argv,
            cwd=self.project,
            env=self.process_env(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def pulumi(self, *args: str, check: bool = True) -> Result:
        """The Pulumi CLI on this stack."""
        result = self._process(["pulumi", *args, "--stack", self.name, "--non-interactive"])
        if check and result.code != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed: {result}")
        return result

    def init(self) -> None:
        """Create the stack in the embedded backend (so secret config can be set before the first command)."""
        self.pulumi("stack", "init")

    def set_secret(self, path: str, value: str) -> None:
        """``pulumi config set --secret --path <path>``: the value is encrypted into the stack file."""
        self.pulumi("config", "set", "--secret", "--path", path, value)

    def run(self, command: str, *args: str) -> Result:
        """``python -m automation <command> --stack <name> <args>``."""
        python = str(ROOT / ".venv" / "bin" / "python")
        return self._process([python, "-m", "automation", command, "--stack", self.name, *args])

    def ok(self, command: str, *args: str) -> Result:
        result = self.run(command, *args)
        assert result.code == 0, f"{command} {' '.join(args)}: {result}"
        return result

    def export(self) -> str:
        """The stack's state as ``pulumi stack export`` prints it (secrets encrypted)."""
        return self.pulumi("stack", "export").stdout
