"""``python -m automation status|releases|suspend|resume|reconcile|events`` against tests/fakekube.py.

The commands read the stack file and the (fake) clusters only: the Pulumi CLI and the
backend are never touched (``cli_install.ensure`` and ``backend.select`` fail if called).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fakekube import FakeKube
from opsworld import SMALL_STACK, closed_port_kubeconfig, populate

from automation import backend, cli, cli_install, operate, ops

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class World:
    root: Path
    stack_file: Path
    mgmt: FakeKube
    e1: FakeKube
    env: dict[str, str]

    def run(self, *argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = cli.main([*argv, "--stack", "small"], env=self.env, root=self.root, out=out)
        return code, out.getvalue()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the day-two commands must not need the Pulumi CLI or a backend")

    monkeypatch.setattr(cli_install, "ensure", forbidden)
    monkeypatch.setattr(backend, "select", forbidden)
    mgmt, e1 = FakeKube().start(), FakeKube(token="e1-token-abcdefghijklmnop").start()
    populate(mgmt, e1)
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    stack_file = tmp_path / "Pulumi.small.yaml"
    stack_file.write_text(SMALL_STACK.replace("config:\n", "config:\n  kubernetes:context: small-mgmt\n", 1))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        mgmt.kubeconfig(context="small-mgmt").replace("current-context: small-mgmt", "current-context: other")
    )
    yield World(tmp_path, stack_file, mgmt, e1, {"KUBECONFIG": str(kubeconfig)})
    mgmt.stop()
    e1.stop()


def test_status_lines_keep_messages_verbatim_and_exit_1_when_not_ready(world: World) -> None:
    code, out = world.run("status")
    assert code == cli.FAILED
    lines = out.splitlines()
    assert len(lines) == 8, out  # one line per object, also in a CI log
    assert (
        "shop/web cluster=e2 Kustomization=edge/shop-web-e2 ready=False (suspended) propagation=False "
        "revision=main@sha1:aaa message=Deployment/shop/web dry-run failed: [spec.replicas]: Invalid value"
    ) in lines
    assert any(line.endswith("message=auth failed: [401] see [/spec/secretRef]") for line in lines)
    # the stack's kubernetes:context is used, not the kubeconfig's current context
    assert world.mgmt.requests


def test_status_filters_json_and_yaml(world: World) -> None:
    code, out = world.run("status", "--project", "shop", "--source", "web", "--cluster", "e1", "--json")
    assert code == cli.OK
    rows = json.loads(out)
    assert [(r["kind"], r["cluster"], r["ready"]) for r in rows] == [
        ("GitRepository", "host-cluster", "True"),
        ("Kustomization", "e1", "True"),
    ]
    code, out = world.run("status", "--workspace", "default", "-o", "yaml")
    assert [(r["project"], r["kind"]) for r in yaml.safe_load(out)] == [
        ("ops", "GitRepository"),
        ("ops", "Kustomization"),
    ]


def test_status_table_prints_brackets(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out = world.run("status")
    assert "ready=" in out, "a table only when asked for, outside a terminal"
    code, out = world.run("status", "--project", "shop", "--source", "api", "-o", "table")
    assert code == cli.FAILED
    assert "auth failed: [401] see [/spec/secretRef]" in out and "Missing" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("status", "--project", "nope"), "error: unknown project 'nope' (known: ops, shop)"),
        (("status", "--cluster", "e9"), "error: unknown cluster 'e9' (known: e1, e2, host-cluster)"),
        (("releases", "--workspace", "retail"), "error: unknown workspace 'retail' (known: default, edge)"),
        (
            ("suspend", "--project", "shop", "--source", "db"),
            "error: unknown source 'db' in project 'shop' (known: api, web)",
        ),
        (
            ("reconcile", "--project", "ops", "--source", "web", "--cluster", "e1"),
            "error: source 'web' of project 'ops' is not deployed to cluster 'e1' (it is on: host-cluster)",
        ),
        (
            ("events", "--project", "shop", "--source", "web", "--cluster", "e7"),
            "error: unknown cluster 'e7' (known: e1, e2, host-cluster)",
        ),
    ],
)
def test_unknown_names_exit_2_with_one_line(
    world: World, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out = world.run(*argv)
    assert (code, out) == (cli.USAGE, "")
    assert capsys.readouterr().err == message + "\n"
    assert world.mgmt.requests == []
    assert world.stack_file.read_text().count("suspend") == 1


def test_unreachable_management_cluster_is_one_line_exit_1(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    unreachable = yaml.safe_load(closed_port_kubeconfig())
    unreachable["contexts"][0]["name"] = "small-mgmt"
    Path(world.env["KUBECONFIG"]).write_text(yaml.safe_dump(unreachable))
    code, _ = world.run("status")
    err = capsys.readouterr().err
    assert code == cli.FAILED
    assert err.startswith("error: cannot reach the management cluster: ") and err.endswith(
        " (kube context small-mgmt)\n"
    )
    assert err.count("\n") == 1


def test_missing_kube_context_exits_2(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.stack_file.write_text(world.stack_file.read_text().replace("small-mgmt", "nowhere"))
    assert world.run("status")[0] == cli.USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: kubernetes:context: cannot load kube context nowhere: ") and err.count("\n") == 1


def test_suspend_and_resume_print_each_cluster_and_last_in_the_stack_file(world: World) -> None:
    code, out = world.run("suspend", "--project", "shop", "--source", "web")
    assert code == cli.OK
    assert out.splitlines() == [
        "e1: Kustomization edge/shop-web-e1 spec.suspend false -> true",
        "e2: Kustomization edge/shop-web-e2 spec.suspend already true",
        "-: StackFile Pulumi.small.yaml kommander:projects[0].sources[0].suspend unset -> true",
    ]
    assert world.mgmt.get(ops.KUSTOMIZATIONS, "edge", "shop-web-e1")["spec"]["suspend"] is True
    data = yaml.safe_load(world.stack_file.read_text())
    assert data["config"]["kommander:projects"][0]["sources"][0]["suspend"] is True
    assert "# the storefront" in world.stack_file.read_text()

    code, out = world.run("resume", "--project", "shop", "--source", "web", "--cluster", "e2", "--json")
    assert code == cli.OK
    assert [(c["cluster"], c["before"], c["after"]) for c in json.loads(out)] == [("e2", "true", "false")]
    assert yaml.safe_load(world.stack_file.read_text())["config"]["kommander:projects"][0]["sources"][0]["suspend"]


def test_suspend_without_permission_exits_1_naming_each_cluster(world: World) -> None:
    world.mgmt.forbid.add(("patch", "kustomizations"))
    code, out = world.run("suspend", "--project", "shop", "--source", "api")
    assert code == cli.FAILED
    assert out.splitlines()[:2] == [
        "e1: Kustomization edge/shop-api-e1 spec.suspend FAILED: HTTP 403: no permission to patch it",
        "e2: Kustomization edge/shop-api-e2 spec.suspend FAILED: not found",
    ]


def test_reconcile_with_source_and_events(world: World) -> None:
    code, out = world.run("reconcile", "--project", "shop", "--source", "web", "--with-source", "--cluster", "e1")
    assert code == cli.OK
    lines = out.splitlines()
    assert lines[0].startswith(
        "host-cluster: GitRepository shop/web metadata.annotations[reconcile.fluxcd.io/requestedAt]"
    )
    assert lines[1].startswith("e1: Kustomization edge/shop-web-e1 ")
    assert [p[:3] for p in world.mgmt.patches] == [
        ("gitrepositories", "shop", "web"),
        ("kustomizations", "edge", "shop-web-e1"),
    ]
    code, out = world.run("reconcile", "--project", "shop", "--source", "web", "--cluster", "e2")
    assert code == cli.FAILED and "FAILED: suspended: resume it first" in out

    code, out = world.run("events", "--project", "shop", "--source", "api")
    assert code == cli.OK
    assert out.splitlines() == [
        "- cluster=host-cluster Condition Ready=False GitRepository=shop/api "
        "message=auth failed: [401] see [/spec/secretRef]",
        "- cluster=e2 Condition Missing Kustomization=edge/shop-api-e2 message=not found",
    ]


def test_releases_per_cluster(world: World) -> None:
    code, out = world.run("releases")
    assert code == cli.FAILED  # redis not Ready (suspended, so that is fine), e2 unreachable
    lines = out.splitlines()
    assert lines[0] == "cluster=host-cluster release=kommander/gitea chart=gitea version=12.4.0 ready=True " \
        "message=Helm install succeeded for release kommander/gitea.v1"  # fmt: skip
    assert lines[2] == "cluster=e1 release=shop/storefront chart=web-chart version=1.2.3 ready=True project=shop"
    assert lines[3].startswith("cluster=e2 release=-/- chart=- version=- ready=Unreachable message=")
    code, out = world.run("releases", "--cluster", "e1", "--json")
    assert code == cli.OK
    assert [r["release"] for r in json.loads(out)] == ["storefront"]
    code, out = world.run("releases", "--project", "ops", "--cluster", "host-cluster")
    assert code == cli.OK and out.splitlines() == [
        "cluster=host-cluster release=cache/cache-redis chart=redis version=20.1.0 ready=False (suspended) "
        "project=ops message=install retries exhausted"
    ]


def test_watch_prints_only_what_changed_and_stops_on_ctrl_c(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    rounds: list[float] = []

    def sleep(seconds: float) -> None:
        rounds.append(seconds)
        if len(rounds) == 1:  # Flux catches up in between
            ks = world.mgmt.objects[(*ops.KUSTOMIZATIONS, "ops", "ops-web-host-cluster")]
            ks["status"] = {
                "lastAppliedRevision": "r1",
                "conditions": [{"type": "Ready", "status": "True", "message": "Applied"}],
            }
            world.mgmt.objects[(*ops.GIT_REPOSITORIES, "ops", "web")]["status"] = {
                "artifact": {"revision": "r1"},
                "conditions": [{"type": "Ready", "status": "True", "message": "stored"}],
            }
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(operate, "sleep", sleep)
    code, out = world.run("status", "--project", "ops", "--watch", "--interval", "0.5")
    assert rounds == [0.5, 0.5]
    lines = [line.split(" ", 1)[1] for line in out.splitlines()]
    assert len(lines) == 4  # two objects, each printed again once changed
    assert lines[-1] == "ops/web cluster=host-cluster Kustomization=ops/ops-web-host-cluster ready=True " \
        "propagation=True revision=r1 message=Applied"  # fmt: skip
    assert code == cli.OK  # the last read was healthy


@pytest.mark.parametrize("command", operate.COMMANDS)
def test_help_says_what_it_does_and_its_exit_codes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "exit codes: 0 " in text and "2 unknown workspace/project/source/cluster" in text


def test_outputs_print_brackets_verbatim() -> None:
    out = io.StringIO()
    run = cli.Run(argparse.Namespace(json=False, stack="dev"), None, None, out)  # type: ignore[arg-type]
    run.print_outputs({"giteaPassword": "[secret]", "note": "see [/spec/x] and [bold]"})
    text = out.getvalue()
    assert "[secret]" in text and "see [/spec/x] and [bold]" in text
