"""The policy pack (``policy/``) under the real engine: ``preview --policy-pack policy`` of a prod-like stack
passes, and a violating config fails with the policy's message.

The engine runs the pack with the Python of ``policy/venv``, the virtualenv of ``policy/requirements.txt``; it
is made once and cached outside the clone (the engine would otherwise install it into each project copy).
"""

from __future__ import annotations

from collections.abc import Iterator

import prodlike
import pytest
from stack import Env, Stack, release_venv


@pytest.fixture(scope="module")
def guarded(env: Env) -> Iterator[Stack]:
    with prodlike.repository(env):
        stack = prodlike.create(env, "guarded", projects=4, protect=True)
        (stack.project / "policy" / "venv").symlink_to(release_venv(stack.project / "policy" / "requirements.txt"))
        yield stack


def test_prod_like_stack_passes_the_policy_pack(guarded: Stack) -> None:
    result = guarded.run("preview", "--policy-pack", "policy", "--json")
    assert result.code == 0, result
    assert result.json["changes"].get("create", 0) > 40


def test_unprotected_stateful_resources_fail_with_the_policys_message(guarded: Stack, env: Env) -> None:
    """``kommander:protect: false`` outside dev: ``stateful-resources-protected`` names each stateful resource."""
    prodlike.reconfigure(guarded, prodlike.config(env, "guarded", projects=4, protect=False))
    result = guarded.run("preview", "--policy-pack", "policy", "--json")
    assert result.code == 1, result
    out = result.stdout + result.stderr
    assert "stateful-resources-protected" in out, result
    for name in ("kommander-gitea-admin-password", "kommander-sops-age-key"):
        assert f"{name} " in out and "holds state and must be protected outside dev (the program sets protect" in out, (
            result
        )
    # without the pack the same preview passes: the policy, not the program, refused it
    assert guarded.run("preview", "--json").code == 0
