"""``python -m automation``: arguments, exit codes, the order of work, results on stdout."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import types
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.automation import ConfigValue, OutputValue, PreviewResult, PulumiCommand, UpdateSummary
from pulumi.automation._cmd import CommandResult
from pulumi.automation.errors import CommandError
from pulumi.automation.events import DiagnosticEvent, EngineEvent, OpType, ResourcePreEvent, StepEventMetadata

from automation import cli, cli_install

ROOT = Path(__file__).resolve().parent.parent
NS_URN = "urn:pulumi:dev::kommander::kubernetes:core/v1:Namespace::kommander-ns"


class FakeStack:
    """Stands in for ``auto.Stack``: records calls, feeds events to ``on_event``, returns results."""

    def __init__(self, changes: dict[str, int] | None = None, fail: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.workspace = types.SimpleNamespace(env_vars={"PULUMI_CONFIG_PASSPHRASE": "p"})
        self.engine_env: list[tuple[str, dict[str, str]]] = []
        """The workspace's environment (what the engine process gets) at each command."""
        self.changes = changes if changes is not None else {"same": 3}
        self.fail = fail
        self.all_config: dict[str, ConfigValue] = {}
        self.stack_outputs = {
            "clusterName": OutputValue("kind-management", False),
            "giteaPassword": OutputValue("hunter2", True),
        }

    def _run(self, name: str, kwargs: dict[str, Any]) -> None:
        self.calls.append((name, kwargs))
        self.engine_env.append((name, dict(self.workspace.env_vars)))
        on_event: Callable[[EngineEvent], None] = kwargs["on_event"]
        on_event(
            EngineEvent(1, 0, resource_pre_event=ResourcePreEvent(StepEventMetadata(OpType.CREATE, NS_URN, "t", "")))
        )
        if self.fail:
            on_event(EngineEvent(2, 1, diagnostic_event=DiagnosticEvent("namespaces is forbidden\n", "", "error")))
            raise CommandError(CommandResult("stdout text", "error: update failed\nmore", 255))

    def _summary(self) -> UpdateSummary:
        from datetime import datetime

        return UpdateSummary("update", datetime.now(), "", {}, {}, "succeeded", resource_changes=self.changes)

    def preview(self, **kwargs: Any) -> PreviewResult:
        self._run("preview", kwargs)
        return PreviewResult("", "", self.changes)

    def up(self, **kwargs: Any) -> Any:
        self._run("up", kwargs)
        return types.SimpleNamespace(summary=self._summary(), outputs=self.stack_outputs)

    def destroy(self, **kwargs: Any) -> Any:
        self._run("destroy", kwargs)
        return types.SimpleNamespace(summary=self._summary())

    def refresh(self, **kwargs: Any) -> Any:
        self._run("refresh", kwargs)
        return types.SimpleNamespace(summary=self._summary())

    def outputs(self) -> dict[str, OutputValue]:
        return self.stack_outputs

    def get_all_config(self) -> dict[str, ConfigValue]:
        return self.all_config


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory: the real Pulumi.yaml and stack files."""
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


class Driver:
    """Runs ``cli.main`` with the engine seams replaced and records what was reached."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, project: Path, stack: FakeStack) -> None:
        self.project = project
        self.stack = stack
        self.reached: list[str] = []
        self.opened: list[Any] = []
        self.env = {"PULUMI_HOME": str(project / "pulumi-home")}

        def ensure() -> str:
            self.reached.append("ensure-cli")
            return "pulumi-command"

        def open_stack(root: Path, name: str, chosen: Any, command: Any) -> FakeStack:
            self.reached.append("open-stack")
            self.opened.append((root, name, chosen, command))
            return stack

        monkeypatch.setattr(cli_install, "ensure", ensure)
        monkeypatch.setattr(cli, "open_stack", open_stack)

    def __call__(self, *argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = cli.main(list(argv), env=self.env, root=self.project, out=out)
        return code, out.getvalue()


@pytest.fixture
def stack() -> FakeStack:
    return FakeStack()


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, project: Path, stack: FakeStack) -> Driver:
    return Driver(monkeypatch, project, stack)


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["preview"],  # --stack is required
        ["apply", "--stack", "dev"],
        ["destroy", "--stack", "dev", "--expect-no-changes"],
        ["up", "--stack", "dev", "--parallel", "many"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(argv)
    assert exc.value.code == cli.USAGE
    assert "usage:" in capsys.readouterr().err


def test_every_command_parses() -> None:
    parser = cli.build_parser()
    for command in cli.COMMANDS:
        args = parser.parse_args([command, "--stack", "staging", "--json"])
        assert (args.command, args.stack, args.json) == (command, "staging", True)
    args = parser.parse_args(["up", "-s", "dev", "--refresh", "--policy-pack", "policy", "--parallel", "8"])
    assert (args.refresh, args.policy_pack, args.parallel) == (True, ["policy"], 8)
    assert parser.parse_args(["destroy", "-s", "prod", "-y"]).yes is True


# --------------------------------------------------------------------------- before the engine


def test_bad_stack_config_exits_2_naming_the_key_before_any_engine_work(
    run: Driver, project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_workspace(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a workspace was created")

    monkeypatch.setattr(cli.auto, "create_or_select_stack", no_workspace)
    monkeypatch.setattr(cli.auto, "LocalWorkspace", no_workspace)
    data = yaml.safe_load((project / "Pulumi.staging.yaml").read_text())
    data["config"]["kommander:projects"][1]["name"] = "Team_A"
    (project / "Pulumi.staging.yaml").write_text(yaml.safe_dump(data))
    code, out = run("up", "--stack", "staging")
    err = capsys.readouterr().err
    assert code == cli.USAGE and out == ""
    assert err.startswith("error: kommander:projects[1].name: 'Team_A' is not a valid DNS-1123 label")
    assert "Traceback" not in err
    assert run.reached == []
    assert not (project / ".pulumi-state").exists()


def test_plaintext_secret_in_stack_file_is_rejected(
    run: Driver, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load((project / "Pulumi.prod.yaml").read_text())
    data["config"]["kommander:workspaces"] = [
        {"name": "edge", "clusters": [{"name": "e1", "kubeconfig": "apiVersion: v1"}]}
    ]
    (project / "Pulumi.prod.yaml").write_text(yaml.safe_dump(data))
    assert run("preview", "--stack", "prod")[0] == cli.USAGE
    assert "kommander:workspaces[0].clusters[0].kubeconfig: a secret" in capsys.readouterr().err
    assert run.reached == []


def test_missing_stack_file_exits_2(run: Driver, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("preview", "--stack", "qa")[0] == cli.USAGE
    assert "no stack file Pulumi.qa.yaml" in capsys.readouterr().err
    assert run.reached == []


def test_destroy_outside_dev_needs_yes(run: Driver, stack: FakeStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("destroy", "--stack", "prod")[0] == cli.USAGE
    assert "pass --yes" in capsys.readouterr().err
    assert run.reached == [] and stack.calls == []
    assert run("destroy", "--stack", "prod", "--yes")[0] == cli.OK
    assert run("destroy", "--stack", "dev")[0] == cli.OK
    assert [name for name, _ in stack.calls] == ["destroy", "destroy"]


def test_workspace_opened_with_backend_passphrase_and_cli(run: Driver, project: Path) -> None:
    assert run("preview", "--stack", "dev")[0] == cli.OK
    assert run.reached == ["ensure-cli", "open-stack"]
    root, name, chosen, command = run.opened[0]
    assert (root, name, command) == (project, "dev", "pulumi-command")
    assert chosen.env == {
        "PULUMI_BACKEND_URL": f"file://{project / '.pulumi-state'}",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(project / ".pulumi-state" / "dev.passphrase"),
    }


def test_open_stack_builds_a_local_workspace_over_the_project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def factory(**kwargs: Any) -> str:
        seen.update(kwargs)
        return "stack"

    monkeypatch.setattr(cli.auto, "create_or_select_stack", factory)
    chosen = cli.backend.Backend(url="s3://b", source="env", env={"X": "1"}, secrets_provider="awskms://k")
    assert cli.open_stack(tmp_path, "prod", chosen, "cmd") == "stack"  # type: ignore[arg-type]
    opts = seen["opts"]
    assert (seen["stack_name"], seen["work_dir"]) == ("prod", str(tmp_path))
    assert (opts.work_dir, opts.env_vars, opts.secrets_provider, opts.pulumi_command) == (
        str(tmp_path),
        {"X": "1"},
        "awskms://k",
        "cmd",
    )


# --------------------------------------------------------------------------- the Pulumi CLI


def test_missing_cli_that_cannot_be_installed_is_one_line_exit_2(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    installs: list[tuple[str, str]] = []

    def offline(root: str | None = None, version: Any = None, skip_version_check: bool = False) -> PulumiCommand:
        installs.append((str(root), str(version)))
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(PulumiCommand, "install", staticmethod(offline))
    monkeypatch.setattr(cli_install.shutil, "which", lambda _: None)
    monkeypatch.setattr(cli_install.Path, "home", staticmethod(lambda: project / "home"))
    code = cli.main(["preview", "--stack", "dev"], env={}, root=project, out=io.StringIO())
    err = capsys.readouterr().err
    assert code == cli.USAGE
    assert installs == [(str(project / "home" / ".pulumi-kommander" / "cli" / "3.272.0"), "3.272.0")]
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "could not be installed (<urlopen error [Errno -2] Name or service not known>)" in err
    assert "install Pulumi CLI v3.272.0" in err
    assert not (project / ".pulumi-state").exists()  # nothing written when nothing can run


def test_cli_version_is_the_pinned_sdk() -> None:
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    assert pins["pulumi"] == cli_install.PULUMI_VERSION


def test_python_m_automation_without_cli_or_network(tmp_path: Path) -> None:
    """The real entry point, no pulumi on PATH, downloads refused: one line, exit 2."""
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "automation", "preview", "--stack", "dev"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT), "SYSTEMROOT": os.environ.get("SYSTEMROOT", "")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: the Pulumi CLI is missing and could not be installed")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_installed_pinned_cli_is_used_without_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    made: list[dict[str, Any]] = []

    class Command:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

        @staticmethod
        def install(**kwargs: Any) -> None:
            raise AssertionError("downloaded")

    root = cli_install.install_root(tmp_path)
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "pulumi").write_text("")
    monkeypatch.setattr(cli_install, "PulumiCommand", Command)
    assert isinstance(cli_install.ensure(tmp_path), Command)
    assert made == [{"root": str(root), "version": cli_install.VersionInfo.parse("3.272.0")}]


# --------------------------------------------------------------------------- results


def test_preview_json_reports_changes_and_outputs_with_secrets_masked(run: Driver, stack: FakeStack) -> None:
    stack.changes = {"same": 4, "create": 2}
    code, out = run("preview", "--stack", "dev", "--json", "--policy-pack", "policy", "--policy-pack-config", "p.json")
    assert code == cli.OK
    result = json.loads(out)
    assert result == {
        "stack": "dev",
        "command": "preview",
        "changes": {"same": 4, "create": 2},
        "changed": True,
        "outputs": {"clusterName": "kind-management", "giteaPassword": "[secret]"},
    }
    kwargs = stack.calls[0][1]
    assert kwargs["policy_packs"] == [str((Path.cwd() / "policy").resolve())]
    assert kwargs["policy_pack_configs"] == [str((Path.cwd() / "p.json").resolve())]
    run("preview", "--stack", "dev")
    assert (stack.calls[1][1]["policy_packs"], stack.calls[1][1]["policy_pack_configs"]) == (None, None)


@pytest.mark.parametrize(
    ("changes", "code"),
    [({"same": 7}, cli.OK), ({}, cli.OK), ({"same": 6, "update": 1}, cli.DRIFT), ({"delete": 2}, cli.DRIFT)],
)
def test_expect_no_changes_exits_3_on_drift(
    run: Driver, stack: FakeStack, changes: dict[str, int], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.changes = changes
    assert run("preview", "--stack", "staging", "--expect-no-changes", "--json")[0] == code
    assert ("drift: stack staging would change" in capsys.readouterr().err) is (code == cli.DRIFT)
    assert run("preview", "--stack", "staging")[0] == cli.OK  # without the flag, changes are not an error


def test_up_with_refresh_and_json(run: Driver, stack: FakeStack) -> None:
    stack.changes = {"create": 5}
    code, out = run("up", "--stack", "dev", "--refresh", "--json")
    assert code == cli.OK
    assert stack.calls[0][0] == "up" and stack.calls[0][1]["refresh"] is True
    assert json.loads(out)["changes"] == {"create": 5}
    run("up", "--stack", "dev")
    assert stack.calls[1][1]["refresh"] is None


def test_engine_failure_exits_1_with_the_engine_error(
    monkeypatch: pytest.MonkeyPatch, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Driver(monkeypatch, project, FakeStack(fail=True))
    assert run("up", "--stack", "dev")[0] == cli.FAILED
    err = capsys.readouterr().err
    assert "error: up dev failed: namespaces is forbidden" in err and "Traceback" not in err


def test_failure_line_without_diagnostics_uses_stderr() -> None:
    exc = CommandError(CommandResult("out", "warning: x\nerror: no stack named 'qa' found\n", 255))
    assert cli.failure_line(exc, cli.Progress()) == "error: no stack named 'qa' found"


#: What the file backend of pulumi v3.276.0 prints for a stack a killed or running update holds
#: (pkg/backend/diy/lock.go), as the CLI's stderr.
LOCKED = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete "
    "the lock file with `pulumi cancel`.\n"
    "  file:///work/p/.pulumi-state/.pulumi/locks/organization/kommander/dev/0b1c.json: created by ops@ci-7 "
    "(pid 4242) at 2026-12-03T15:00:00Z\n"
)


def test_a_locked_stack_says_how_to_unlock_and_who_holds_it() -> None:
    """The error is the first line of stderr (no warning before it): it is found, with the lock's holder."""
    line = cli.failure_line(CommandError(CommandResult("", LOCKED, 255)), cli.Progress())
    assert line == (
        "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete "
        "the lock file with `pulumi cancel`. file:///work/p/.pulumi-state/.pulumi/locks/organization/kommander/dev/"
        "0b1c.json: created by ops@ci-7 (pid 4242) at 2026-12-03T15:00:00Z"
    )


@pytest.mark.parametrize(
    ("argv", "skipped"),
    [
        (["preview"], True),  # a preview persists nothing: the per-step state writes are pure cost
        (["up"], False),  # an up writes the state after every step unless asked not to (recovery of a kill)
        (["up", "--skip-checkpoints"], True),
        (["refresh"], False),
        (["refresh", "--skip-checkpoints"], True),
        (["destroy", "--skip-checkpoints"], True),
    ],
)
def test_the_engine_skips_checkpoints_for_a_preview_and_when_asked(
    monkeypatch: pytest.MonkeyPatch, project: Path, argv: list[str], skipped: bool
) -> None:
    stack = FakeStack()
    run = Driver(monkeypatch, project, stack)
    assert run(argv[0], "--stack", "dev", *argv[1:])[0] == cli.OK
    ((command, env),) = stack.engine_env
    assert command == argv[0]
    assert env.get("PULUMI_SKIP_CHECKPOINTS") == ("true" if skipped else None)
    assert env["PULUMI_CONFIG_PASSPHRASE"] == "p", "the rest of the engine's environment is kept"


def test_skip_checkpoints_is_not_an_option_of_preview(
    monkeypatch: pytest.MonkeyPatch, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Driver(monkeypatch, project, FakeStack())
    with pytest.raises(SystemExit) as exited:
        run("preview", "--stack", "dev", "--skip-checkpoints")
    assert exited.value.code == 2 and "--skip-checkpoints" in capsys.readouterr().err


def test_refresh_and_outputs(run: Driver, stack: FakeStack) -> None:
    assert run("refresh", "--stack", "dev")[0] == cli.OK
    _, out = run("outputs", "--stack", "dev", "--json")
    assert json.loads(out)["outputs"]["giteaPassword"] == "[secret]"
    _, out = run("outputs", "--stack", "dev", "--json", "--show-secrets")
    assert json.loads(out)["outputs"]["giteaPassword"] == "hunter2"
    _, out = run("outputs", "--stack", "dev")
    assert "kind-management" in out and "hunter2" not in out


def test_a_download_that_never_answers_gives_up_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy that accepts and then stays silent: the install stops after the timeout, not never."""
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
    proxy = f"http://127.0.0.1:{silent.getsockname()[1]}"
    monkeypatch.setenv("https_proxy", proxy)
    monkeypatch.setenv("http_proxy", proxy)
    monkeypatch.setattr(cli_install.shutil, "which", lambda _: None)
    try:
        with pytest.raises(cli_install.CliUnavailableError) as raised:
            cli_install.ensure(tmp_path, timeout=1.0)
    finally:
        for conn in held:
            conn.close()
        silent.close()
    assert "could not be installed (the download got no answer within 1 s)" in str(raised.value)
    assert held, "the install never reached the proxy"
    assert socket.getdefaulttimeout() is None  # the process's default is restored
