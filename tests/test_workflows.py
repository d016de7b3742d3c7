"""The CI workflows parse, run the stack only through ``python -m automation``, and gate prod."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def runs(workflow: dict[str, Any]) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.y*ml")))
def test_workflow_is_valid_and_uses_the_automation_driver(name: str) -> None:
    workflow = load(name)
    assert workflow["name"] and workflow["on"] and workflow["jobs"]
    for job in workflow["jobs"].values():
        assert job["runs-on"] and job["steps"]
        for step in job["steps"]:
            assert ("run" in step) != ("uses" in step), step
            if "uses" in step:
                assert re.match(r"^[\w.-]+/[\w.-]+@v\d+$", step["uses"]), step["uses"]
    for script in runs(workflow):
        assert not re.search(r"(^|[\s;&|])pulumi\s", script), f"hand-written pulumi CLI call in {name}: {script}"


def test_tests_run_on_pull_requests_with_make_test() -> None:
    workflow = load("test.yaml")
    assert "pull_request" in workflow["on"]
    assert "make test" in runs(workflow)


def test_pull_requests_get_a_preview_comment() -> None:
    workflow = load("preview.yaml")
    assert "pull_request" in workflow["on"] and workflow["permissions"]["pull-requests"] == "write"
    job = workflow["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == ["staging", "prod"]
    preview = next(s for s in runs(workflow) if "python -m automation preview" in s)
    assert "--json" in preview and "--policy-pack policy" in preview and "--diff" in preview
    comment = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/github-script@"))
    assert "createComment" in comment["with"]["script"] and "preview.json" in comment["with"]["script"]


def comment_for(preview: dict[str, Any] | None, tmp_path: Path, exit_code: str = "0") -> list[dict[str, Any]]:
    """Run the preview workflow's comment script under node with a recording ``github`` client."""
    job = load("preview.yaml")["jobs"]["preview"]
    script = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/github-script@"))["with"]["script"]
    if preview is not None:
        (tmp_path / "preview.json").write_text(json.dumps(preview))
    harness = (
        "const calls = [];\n"
        "const github = { paginate: async () => [], rest: { issues: {\n"
        "  listComments: null,\n"
        "  createComment: async (a) => calls.push(a), updateComment: async (a) => calls.push(a) } } };\n"
        "const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 } };\n"
        f"(async () => {{\n{script}\n}})().then(() => console.log(JSON.stringify(calls)));\n"
    )
    env = {"PATH": os.environ["PATH"], "STACK": "staging", "EXIT": exit_code}
    node = shutil.which("node")
    assert node, "node runs the workflow's github-script (it is on the CI machine)"
    done = subprocess.run([node, "-e", harness], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    calls: list[dict[str, Any]] = json.loads(done.stdout)
    return calls


def test_preview_comment_carries_the_per_property_diff(tmp_path: Path) -> None:
    diff = [
        "~ update kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization shop-web-e1",
        "    ~ spec.suspend: false => true",
        '    ~ metadata.annotations["x"]: "```" => "b"',
    ]
    preview = {"changes": {"update": 1, "same": 3}, "changed": True, "diff": diff}
    (call,) = comment_for(preview, tmp_path)
    body = call["body"]
    assert call["issue_number"] == 7 and body.startswith("<!-- kommander-preview:staging -->\n### Preview of `staging`")
    assert "| update | 1 |" in body and "**This pull request changes the stack.**" in body
    fenced = re.search(r"\n(`{4,})diff\n(.*)\n\1\n", body, re.S)
    assert fenced is not None and fenced.group(2).splitlines() == diff  # a longer fence than any backticks inside
    big = {**preview, "diff": ["    ~ data.x: " + "y" * 200] * 1000}
    (call,) = comment_for(big, tmp_path)
    assert len(call["body"]) < 65536 and "(cut: see the job log)" in call["body"]


def test_preview_comment_without_diff_or_result(tmp_path: Path) -> None:
    (call,) = comment_for({"changes": {"same": 3}, "changed": False}, tmp_path)
    assert "No changes." in call["body"] and "<details>" not in call["body"]
    (tmp_path / "failed").mkdir()
    (call,) = comment_for(None, tmp_path / "failed", exit_code="1")
    assert "The preview failed (exit 1)" in call["body"]


def test_main_converges_staging() -> None:
    workflow = load("deploy-staging.yaml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    assert workflow["jobs"]["up"]["needs"] == "test"
    assert any("python -m automation up --stack staging" in s for s in runs(workflow))


def test_prod_is_manual_and_environment_gated() -> None:
    workflow = load("deploy-prod.yaml")
    assert list(workflow["on"]) == ["workflow_dispatch"]
    job = workflow["jobs"]["prod"]
    assert job["environment"] == "production"
    up = next(s for s in job["steps"] if "python -m automation up --stack prod" in s.get("run", ""))
    assert up["if"] == "inputs.command == 'up'"


def test_scheduled_drift_check_expects_no_changes() -> None:
    workflow = load("drift.yaml")
    assert "schedule" in workflow["on"]
    assert any("--expect-no-changes" in s and "python -m automation preview" in s for s in runs(workflow))
