"""The dynamic providers load in the provider host as Pulumi starts it.

The SDK pickles a provider class defined in a module by reference, so the provider
host (``python -m pulumi.dynamic``, started by the engine in the project directory,
with that directory first on ``sys.path``) must be able to import ``components``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.management_repository import RepositoryProvider
from components.sops_age import AgeKeyProvider

ROOT = Path(__file__).resolve().parent.parent
LOAD = "import base64, sys, dill; print(type(dill.loads(base64.b64decode(sys.stdin.read()))).__name__)"


@pytest.mark.parametrize("provider", [RepositoryProvider, AgeKeyProvider])
def test_provider_deserializes_in_a_fresh_host_started_in_the_project(provider: type, tmp_path: Path) -> None:
    blob = serialize_provider(provider())
    ok = subprocess.run([sys.executable, "-c", LOAD], input=blob, cwd=ROOT, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == provider.__name__
    elsewhere = subprocess.run(
        [sys.executable, "-c", LOAD], input=blob, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert "No module named 'components'" in elsewhere.stderr
