"""``python -m automation`` under hostile or careless input: stack files, the state folder, stack names, Ctrl-C.

Each bad input is one ``error:`` line on stderr and exit 2, before any engine work, and
nothing outside the state folder is written or has its mode changed.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from automation import backend, cli, cli_install, stackfile

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, root / name)
    return root


class Driver:
    """``cli.main`` with the engine seams replaced; records what was reached and what was opened."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
        self.project = project
        self.reached: list[str] = []
        self.opened: list[tuple[str, backend.Backend]] = []
        self.env = {"PULUMI_HOME": str(project.parent / "pulumi-home")}
        self.calls: list[str] = []

        def ensure() -> str:
            self.reached.append("ensure-cli")
            return "pulumi-command"

        driver = self

        class Stack:
            def __init__(self) -> None:
                self.workspace = types.SimpleNamespace(env_vars={})

            def preview(self, **kwargs: Any) -> Any:
                driver.calls.append("preview")
                from pulumi.automation import PreviewResult

                return PreviewResult("", "", {"same": 1})

            def destroy(self, **kwargs: Any) -> Any:
                driver.calls.append("destroy")
                import types

                return types.SimpleNamespace(summary=types.SimpleNamespace(resource_changes={}))

            def outputs(self) -> dict[str, Any]:
                return {}

        def open_stack(root: Path, name: str, chosen: backend.Backend, command: Any) -> Stack:
            self.reached.append("open-stack")
            self.opened.append((name, chosen))
            return Stack()

        monkeypatch.setattr(cli_install, "ensure", ensure)
        monkeypatch.setattr(cli, "open_stack", open_stack)

    def __call__(self, *argv: str) -> int:
        return cli.main(list(argv), env=self.env, root=self.project, out=io.StringIO())


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, project: Path) -> Driver:
    return Driver(monkeypatch, project)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder`` (symlinks not followed): mode and content."""
    out: dict[str, tuple[int, bytes]] = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        data = (
            path.read_bytes()
            if stat.S_ISREG(info.st_mode)
            else os.readlink(path).encode()
            if path.is_symlink()
            else b""
        )
        out[str(path.relative_to(folder))] = (info.st_mode, data)
    return out


# --------------------------------------------------------------------------- stack files

DEV = (ROOT / "Pulumi.dev.yaml").read_text()
BOMB = (
    "config:\n  kommander:apps:\n"
    + "    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"    a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]\n"
        for i in range(1, 12)
    )
)
NESTED = "config:\n  kommander:apps:\n    podinfo:\n      values: " + "[" * 5000 + "]" * 5000 + "\n"
NESTED_MAPPINGS = "config:\n  kommander:apps: " + "{a: " * 300 + "1" + "}" * 300 + "\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"# caf\xe9\n" + DEV.encode(), r"Pulumi.dev.yaml: not UTF-8 text \(byte 0xe9 at offset 5\)"),
        (DEV.encode("utf-16"), r"Pulumi.dev.yaml: not UTF-8 text \(byte 0xff at offset 0\)"),
        (
            BOMB.encode(),
            r"Pulumi.dev.yaml: line \d+: aliases expand to more than 100000 values \(a YAML alias bomb\?\)",
        ),
        (
            b"config:\n  kommander:apps: &x\n    a: *x\n",
            r"Pulumi.dev.yaml: line 2: an alias refers to a value that contains it",
        ),
        (NESTED.encode(), r"Pulumi.dev.yaml: line 4: nested more than 64 levels deep"),
        (NESTED_MAPPINGS.encode(), r"Pulumi.dev.yaml: line 2: nested more than 64 levels deep"),
        (
            b"config:\n  kommander:clusterName: a\n  kommander:clusterName: b\n",
            r"Pulumi.dev.yaml: line 3: duplicate key 'kommander:clusterName'",
        ),
        (
            b"config:\n  kommander:gitea:\n    branch: main\n    branch: prod\n",
            r"Pulumi.dev.yaml: line 4: duplicate key 'branch'",
        ),
        (b"config: {a: 1, a: 2}\n", r"Pulumi.dev.yaml: line 1: duplicate key 'a'"),
        (b"config:\n  kommander:x: [1\n", r"Pulumi.dev.yaml: not valid YAML \(line 3: "),
        (b"config: !!python/object:os.system {}\n", r"Pulumi.dev.yaml: not valid YAML \(line 1: "),
    ],
    ids=[
        "latin-1",
        "utf-16",
        "alias-bomb",
        "recursive-alias",
        "nested-sequences",
        "nested-mappings",
        "duplicate-top-key",
        "duplicate-nested-key",
        "duplicate-flow-key",
        "broken",
        "python-tag",
    ],
)
def test_hostile_stack_files_are_one_line_and_exit_2(
    run: Driver, project: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    (project / "Pulumi.dev.yaml").write_bytes(content)
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(run("preview", "--stack", "dev")), daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(20)
    assert result, "still running after 20 s"
    assert time.monotonic() - started < 5
    assert result == [cli.USAGE]
    import re

    assert re.match(f"error: {message}", one_error_line(capsys))
    assert run.reached == [] and not (project / ".pulumi-state").exists()


def test_aliases_that_stay_small_are_accepted(project: Path) -> None:
    data = yaml.safe_load(DEV)
    text = yaml.safe_dump(data) + "x-anchors: &labels {team: a}\nother: *labels\n"
    (project / "Pulumi.dev.yaml").write_text(text)
    assert stackfile.load(project, "dev").config.clusterName == stackfile.load(project, "dev").config.clusterName


@pytest.mark.parametrize("kind", ["directory", "dangling-symlink", "device"])
def test_a_stack_file_that_is_not_a_readable_file_exits_2(
    run: Driver, project: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = project / "Pulumi.dev.yaml"
    path.unlink()
    if kind == "directory":
        path.mkdir()
        expected = "error: no stack file Pulumi.dev.yaml"
    elif kind == "dangling-symlink":
        path.symlink_to(project / "nowhere.yaml")
        expected = "error: no stack file Pulumi.dev.yaml"
    else:  # reading it would never end
        path.symlink_to("/dev/zero")
        expected = "error: no stack file Pulumi.dev.yaml"
    assert run("preview", "--stack", "dev") == cli.USAGE
    assert one_error_line(capsys).startswith(expected)
    assert run.reached == []


@pytest.mark.parametrize("name", ["../dev", "dev/../../x", "a/b/c/d", "", "de v", "org//dev", "/dev", "."])
def test_invalid_stack_names_exit_2_and_touch_nothing(
    run: Driver, project: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert run("preview", "--stack", name) == cli.USAGE
    assert one_error_line(capsys).startswith(f"error: --stack {name!r}: not a stack name")
    assert run.reached == [] and not (project / ".pulumi-state").exists()


# --------------------------------------------------------------------------- org-qualified stack names


@pytest.mark.parametrize("name", ["organization/kommander/dev", "organization/dev"])
def test_org_qualified_stack_names_use_the_short_names_stack_file_and_passphrase(run: Driver, name: str) -> None:
    assert run("preview", "--stack", "dev") == cli.OK
    assert run("preview", "--stack", name) == cli.OK
    (short, first), (full, second) = run.opened
    assert (short, full) == ("dev", name)  # the engine gets the name as given
    assert second.passphrase_file == first.passphrase_file == run.project / ".pulumi-state" / "dev.passphrase"
    assert second.env == first.env


def test_org_qualified_destroy_of_dev_needs_no_yes_but_prod_does(
    run: Driver, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("destroy", "--stack", "organization/kommander/dev") == cli.OK
    capsys.readouterr()
    assert run("destroy", "--stack", "acme/kommander/prod") == cli.USAGE
    assert "pass --yes" in one_error_line(capsys)
    assert run.calls == ["destroy"]


def test_a_stack_of_another_project_exits_2(run: Driver, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("preview", "--stack", "acme/webshop/dev") == cli.USAGE
    assert one_error_line(capsys) == (
        "error: --stack 'acme/webshop/dev': project 'webshop' is not this project ('kommander', Pulumi.yaml)"
    )
    assert run.reached == []


# --------------------------------------------------------------------------- the state folder


def test_a_state_folder_that_is_a_file_exits_2_and_is_left_alone(
    run: Driver, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / ".pulumi-state").write_text("not a folder\n")
    assert run("preview", "--stack", "dev") == cli.USAGE
    assert one_error_line(capsys) == (
        f"error: {project / '.pulumi-state'}: not a directory (the embedded backend keeps the stack state there; "
        "move it away)"
    )
    assert (project / ".pulumi-state").read_text() == "not a folder\n"
    assert "open-stack" not in run.reached


@pytest.mark.parametrize("kind", ["dangling", "elsewhere", "directory", "fifo"])
def test_a_passphrase_path_that_is_not_a_plain_file_exits_2_and_nothing_outside_is_touched(
    run: Driver, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me\n")
    (outside / "precious").chmod(0o644)
    state = project / ".pulumi-state"
    state.mkdir()
    path = state / "dev.passphrase"
    if kind == "dangling":
        path.symlink_to(outside / "created-by-us")
    elif kind == "elsewhere":
        path.symlink_to(outside / "precious")
    elif kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    before = snapshot(outside)
    assert run("preview", "--stack", "dev") == cli.USAGE
    assert one_error_line(capsys) == (
        f"error: {path}: not a plain file (a symbolic link, folder or device); the generated passphrase of stack "
        "'dev' must be a regular file there: remove it, or set PULUMI_CONFIG_PASSPHRASE_FILE"
    )
    assert snapshot(outside) == before
    assert "open-stack" not in run.reached


def test_the_generated_passphrase_is_written_without_following_links(tmp_path: Path) -> None:
    """The file is created exclusively (no symlink followed) and its mode set through the open descriptor."""
    state = tmp_path / ".pulumi-state"
    first = backend.passphrase_file(state, "dev")
    assert stat.S_IMODE(first.lstat().st_mode) == 0o600 and not first.is_symlink()
    first.chmod(0o640)
    assert stat.S_IMODE(backend.passphrase_file(state, "dev").lstat().st_mode) == 0o600


def test_an_empty_passphrase_file_exits_2(run: Driver, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".pulumi-state").mkdir()
    (project / ".pulumi-state" / "dev.passphrase").write_text("")
    assert run("preview", "--stack", "dev") == cli.USAGE
    assert "is empty" in one_error_line(capsys)


# --------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_anywhere_is_exit_130_in_one_line(
    run: Driver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_install, "ensure", interrupted)
    assert run("preview", "--stack", "dev") == 130
    assert one_error_line(capsys) == "error: interrupted"


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_to_the_real_entry_point_exits_130(tmp_path: Path) -> None:
    """``python -m automation`` waiting on a download that never answers; SIGINT: one line, exit 130."""
    silent = socket.create_server(("127.0.0.1", 0))
    connected = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        conn, _ = silent.accept()
        held.append(conn)
        connected.set()

    threading.Thread(target=accept, daemon=True).start()
    proxy = f"http://127.0.0.1:{silent.getsockname()[1]}"
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "https_proxy": proxy,
        "http_proxy": proxy,
        "PYTHONPATH": str(ROOT),
        "PYTHONFAULTHANDLER": "1",  # a hang is reported with every thread's stack (SIGABRT below)
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "automation", "preview", "--stack", "dev"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as in a terminal: SIGINT at its default. A runner may have started this suite with SIGINT ignored (a
        # background job of a non-interactive shell, a pytest-xdist worker); Python keeps an inherited SIG_IGN,
        # so the CLI would rightly ignore the Ctrl-C this test sends.
        preexec_fn=_sigint_default,
    )
    try:
        assert connected.wait(60), "the CLI never tried to download"
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            out, err = proc.communicate(timeout=30)
            raise AssertionError(f"no exit within 30 s of SIGINT; the stacks at SIGABRT:\n{err}") from None
    finally:
        proc.kill()
        for conn in held:
            conn.close()
        silent.close()
    assert (proc.returncode, out, err) == (130, "", "error: interrupted\n")
