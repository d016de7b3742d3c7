"""``python -m automation preview --diff``: each changing resource and its properties, also in --json."""

from __future__ import annotations

import io
import json
import shutil
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi.automation import PreviewResult
from pulumi.automation.events import EngineEvent, OpType

from automation import cli, cli_install

ROOT = Path(__file__).resolve().parent.parent
KS = "urn:pulumi:staging::kommander::kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization::shop-web-e1"

#: A preview's step event as the engine writes it to its event log.
STEP = {
    "sequence": 1,
    "timestamp": 1_700_000_000,
    "resourcePreEvent": {
        "metadata": {
            "op": "update",
            "urn": KS,
            "type": "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization",
            "old": {"inputs": {"spec": {"suspend": False}}},
            "new": {"inputs": {"spec": {"suspend": True}}},
            "diffs": ["spec"],
            "detailedDiff": {"spec.suspend": {"diffKind": "update", "inputDiff": True}},
        }
    },
}


class Stack:
    def __init__(self) -> None:
        self.workspace = types.SimpleNamespace(env_vars={})

    def preview(self, **kwargs: Any) -> PreviewResult:
        on_event: Callable[[EngineEvent], None] = kwargs["on_event"]
        on_event(EngineEvent.from_json(STEP))
        return PreviewResult("", "", {OpType.UPDATE: 1, OpType.SAME: 40})

    def outputs(self) -> dict[str, Any]:
        return {}


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    for name in ("Pulumi.yaml", "Pulumi.staging.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    monkeypatch.setattr(cli_install, "ensure", lambda: "pulumi-command")
    monkeypatch.setattr(cli, "open_stack", lambda *args: Stack())

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = cli.main(list(argv), env={"PULUMI_HOME": str(tmp_path / "home")}, root=tmp_path, out=out)
        return code, out.getvalue()

    return run


def test_preview_diff_prints_each_property(run: Callable[..., tuple[int, str]]) -> None:
    code, out = run("preview", "--stack", "staging", "--diff")
    assert code == cli.OK
    assert out.splitlines() == [
        "~ update kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization shop-web-e1",
        "    ~ spec.suspend: false => true",
    ]


def test_preview_diff_in_json(run: Callable[..., tuple[int, str]]) -> None:
    code, out = run("preview", "--stack", "staging", "--diff", "--json")
    result = json.loads(out)
    assert code == cli.OK
    assert result["diff"][1] == "    ~ spec.suspend: false => true"
    assert result["changes"] == {"update": 1, "same": 40}
    code, out = run("preview", "--stack", "staging", "--json")
    assert code == cli.OK and "diff" not in json.loads(out)
