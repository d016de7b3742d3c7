"""Pulumi.yaml validates against the CLI's own schema; stack files pass the config validation."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from schemas import shared

from automation import stackfile
from components import config

ROOT = Path(__file__).resolve().parent.parent


def test_pulumi_yaml_matches_cli_schema() -> None:
    schema = json.loads(shared("schemas", "pulumi", "project.json").read_text())
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    jsonschema.validate(project, schema)
    assert project["name"] == config.PROJECT
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    for key, decl in project["config"].items():
        assert key in config.KEYS, key
        assert decl.get("description") and "default" in decl, key


def test_project_schema_rejects_object_config_types() -> None:
    schema = json.loads(shared("schemas", "pulumi", "project.json").read_text())
    bad = {"name": "x", "runtime": "python", "config": {"apps": {"type": "object"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize("stack_file", sorted(p.name for p in ROOT.glob("Pulumi.*.yaml")))
def test_stack_files_pass_config_validation(stack_file: str) -> None:
    """Each stack file passes the same check ``python -m automation`` runs before any engine work."""
    stack = stack_file.split(".")[1]
    values = yaml.safe_load((ROOT / stack_file).read_text())["config"]
    loaded = stackfile.load(ROOT, stack)
    assert loaded.config.protect is (stack != "dev")
    assert loaded.kube_context == values.get("kubernetes:context")
    # dev targets the current kube context; every other stack pins its cluster
    assert (loaded.kube_context is None) is (stack == "dev")
    assert all(isinstance(v, dict) and set(v) == {"secure"} for v in _secret_leaves(values)), stack_file


def _secret_leaves(node: object, key: str = "") -> list[object]:
    """Every value under a secret field name (kubeconfig, password, ...), at any depth."""
    if key in config.SECRET_FIELDS:
        return [node]
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _secret_leaves(v, str(k))]
    if isinstance(node, list):
        return [leaf for v in node for leaf in _secret_leaves(v, key)]
    return []
