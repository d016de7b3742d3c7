"""``python -m automation dashboard``: its arguments and the refusals before any server starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from automation import cli
from automation.dashboard import DashboardError, allowed_hosts, bind, is_loopback

ROOT = Path(__file__).resolve().parent.parent


def run(capsys: pytest.CaptureFixture[str], *argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    code = cli.main(["dashboard", "--stack", "dev", *argv], env=env or {}, root=ROOT)
    return code, capsys.readouterr().err


def test_the_cli_lists_the_dashboard() -> None:
    assert "dashboard" in cli.build_parser().format_help()


def test_another_address_needs_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "--address", "0.0.0.0")
    assert code == cli.USAGE
    assert err.strip().splitlines() == [
        "error: --address 0.0.0.0 exposes the dashboard beyond this machine: pass --token "
        "(or set KOMMANDER_DASHBOARD_TOKEN) with a secret of at least 16 characters"
    ]


@pytest.mark.parametrize("argv", [["--token", "short"], ["--address", "10.0.0.5", "--token", "short"]])
def test_a_short_token_is_refused_without_echoing_it(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, err = run(capsys, *argv)
    assert code == cli.USAGE
    assert "too short" in err and "short'" not in err and err.count("\n") == 1


def test_the_token_may_come_from_the_environment_and_stays_out_of_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    token = "env-token-0123456789abcdef"
    code, err = run(
        capsys,
        "--address",
        "0.0.0.0",
        "--port",
        "1",
        env={"KOMMANDER_DASHBOARD_TOKEN": token, "KUBECONFIG": str(tmp_path / "missing")},
    )
    assert code == cli.USAGE  # got past the token check, stopped at the kube context
    assert err.startswith("error: cannot load kube context") and token not in err


def test_a_bad_stack_is_the_stack_files_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["dashboard", "--stack", "nosuch"], env={}, root=ROOT)
    assert code == cli.USAGE
    assert capsys.readouterr().err == (
        "error: no stack file Pulumi.nosuch.yaml: create it (see README.md) or pick another --stack\n"
    )


def test_a_port_in_use_is_one_line() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(DashboardError, match=rf"^cannot listen on 127\.0\.0\.1 port {port}: "):
            bind("127.0.0.1", port)
    finally:
        taken.close()


def test_loopback_and_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.com")
    assert allowed_hosts("0.0.0.0") is None  # any Host: the token guards
    assert allowed_hosts("10.1.2.3") == ("127.0.0.1", "localhost", "::1", "10.1.2.3")
