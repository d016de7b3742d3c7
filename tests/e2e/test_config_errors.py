"""Bad config through the real CLI: the error names the key, the exit is non-zero, nothing is created."""

from __future__ import annotations

import json

from kubernetes import client
from stack import Env


def _namespaces(kube) -> set[str]:  # type: ignore[no-untyped-def]
    return {n.metadata.name for n in client.CoreV1Api(kube).list_namespace().items}


def test_bad_config_fails_naming_the_key_and_creates_nothing(env: Env, kube) -> None:  # type: ignore[no-untyped-def]
    stack = env.stack("badconfig")
    config = env.base_config("bad-config")
    config["kommander:namespaces"] = {"kommander": "e2e-bad-kommander", "flux": "e2e-bad-flux"}
    config["kommander:projects"] = [{"name": "Team_A", "workspace": "default"}]
    stack.write_config(config)
    before = _namespaces(kube)

    # the project's driver: rejected before any engine work, exit 2
    driver = stack.run("up", "--json")
    assert driver.code == 2, driver
    assert "kommander:projects[0].name" in driver.stderr and "Team_A" in driver.stderr

    # the pulumi CLI itself: the program rejects the config before registering anything
    stack.init()
    cli = stack.pulumi("up", "--yes", "--skip-preview", check=False)
    assert cli.code != 0, cli
    assert "kommander:projects[0].name" in cli.stdout + cli.stderr, cli
    state = json.loads(stack.export())
    created = [r["type"] for r in state["deployment"].get("resources") or [] if r["type"] != "pulumi:pulumi:Stack"]
    assert created == [], "a failed config created resources"  # the engine records only the stack itself
    assert _namespaces(kube) == before


def test_unknown_key_fails_before_anything(env: Env, kube) -> None:  # type: ignore[no-untyped-def]
    stack = env.stack("unknownkey")
    config = env.base_config("unknown-key")
    config["kommander:gitea"] = {"externalUrl": env.gitea.base_url, "adminPasword": "x"}
    stack.write_config(config)
    result = stack.run("preview", "--json")
    assert result.code == 2, result
    assert "kommander:gitea.adminPasword" in result.stderr, result
