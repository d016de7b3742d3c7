"""Stacks of the real-engine suite: a copy of the project per test stack, run through the project's own driver.

Each :class:`Stack` lives in its own copy of the project (the files git knows, and the project's ``.venv`` linked
in), with state in the driver's embedded file backend. Commands go through ``python -m automation`` in a
subprocess, with the toolchain's ``bin`` first on PATH and automatic plugin downloads turned off, so the engine
runs exactly the binaries the toolchain installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
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


@dataclass(repr=False)
class Result:
    """A driver command's exit status and output; its repr is the output's tail, so a failed assertion shows it."""

    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-6000:]}"

    __repr__ = __str__


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
        copy_current(project)
        return Stack(self, project, name)

    def stack_at(self, name: str, commit: str) -> Stack:
        """A stack in a copy of the project as it was at ``commit`` (``git archive`` of the clone's history), with
        a virtualenv for that commit's ``requirements.txt`` (:func:`release_venv`)."""
        project = self.session_dir / "projects" / name
        if project.exists():
            shutil.rmtree(project)
        project.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=False)
        if archive.returncode != 0:
            raise AssertionError(f"git archive {commit}: {archive.stderr.decode(errors='replace').strip()}")
        subprocess.run(["tar", "-x", "-C", str(project)], input=archive.stdout, check=True)
        shutil.rmtree(project / "tests", ignore_errors=True)
        (project / ".venv").symlink_to(release_venv(project / "requirements.txt"))
        return Stack(self, project, name)


def copy_current(project: Path) -> None:
    """The files git knows in the clone (tests excepted) copied into ``project``, the clone's ``.venv`` linked."""
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


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def release_venv(requirements: Path) -> Path:
    """The clone's ``.venv`` when ``requirements`` is the clone's ``requirements.txt``; otherwise a virtualenv of
    those requirements, made once and cached outside the clone (``$KOMMANDER_E2E_CACHE/release-venvs/<digest>``)."""
    text = requirements.read_bytes()
    if text == (ROOT / "requirements.txt").read_bytes():
        return ROOT / ".venv"
    cache = Path(
        os.environ.get("KOMMANDER_E2E_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kommander-e2e"
    )
    venv = cache / "release-venvs" / hashlib.sha256(text).hexdigest()[:16]
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    for argv in (
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.splitlines() if line.strip()] or [f"exit {proc.returncode}"]
            raise AssertionError(f"the virtualenv of {requirements}: {lines[-1]}")
    (venv / ".complete").write_text("")
    return venv


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
        """``python -m automation <command> --stack <name> <args>``, with the project's ``.venv``."""
        python = str(self.project / ".venv" / "bin" / "python")
        return self._process([python, "-m", "automation", command, "--stack", self.name, *args])

    def upgrade(self) -> None:
        """Replace the project's files by the clone's current ones, as a user upgrading a checkout does: the state
        (``.pulumi-state``, passphrase included) and the stack file stay."""
        keep = {".pulumi-state", f"Pulumi.{self.name}.yaml"}
        for entry in self.project.iterdir():
            if entry.name in keep:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        stack_file = self.project / f"Pulumi.{self.name}.yaml"
        saved = stack_file.read_bytes() if stack_file.exists() else None
        copy_current(self.project)
        if saved is not None:
            stack_file.write_bytes(saved)

    def start(self, command: str, *args: str) -> subprocess.Popen[str]:
        """``python -m automation <command>`` started in its own process group (for :meth:`kill`); output to
        ``<project>/<command>.out`` / ``.err``."""
        python = str(self.project / ".venv" / "bin" / "python")
        return subprocess.Popen(
            [python, "-m", "automation", command, "--stack", self.name, *args],
            cwd=self.project,
            env=self.process_env(),
            stdout=(self.project / f"{command}.out").open("w"),
            stderr=(self.project / f"{command}.err").open("w"),
            text=True,
            start_new_session=True,
        )

    @staticmethod
    def kill(proc: subprocess.Popen[str]) -> None:
        """SIGKILL :meth:`start`'s driver and every process under it (the engine, language host, providers: some
        plugins start their own process groups), as a lost CI runner or an OOM kill would; wait for the driver."""
        tree = descendants(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def ok(self, command: str, *args: str) -> Result:
        result = self.run(command, *args)
        assert result.code == 0, f"{command} {' '.join(args)}: {result}"
        return result

    def export(self) -> str:
        """The stack's state as ``pulumi stack export`` prints it (secrets encrypted)."""
        return self.pulumi("stack", "export").stdout
