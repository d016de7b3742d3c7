"""Run __main__.py itself with Pulumi.dev.yaml's config, as `pulumi up` would."""

from __future__ import annotations

import gc
import runpy

import pytest
from support import ROOT, stack_config

from components import gc_policy
from components.config import ConfigError


def test_main_runs_with_dev_stack_config(program) -> None:
    young = gc.get_threshold()[:2]
    graph = program(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=stack_config("dev"), stack="dev")
    types = {r.type for r in graph}
    for kind in ("ManagementCluster", "Namespaces", "Flux", "CertManager", "RootCA"):
        assert f"kommander:index:{kind}" in types
    assert graph.outputs["clusterName"] == "kind-management"
    assert graph.outputs["caIssuer"] == "kommander-ca"
    assert graph.outputs["namespaces"] == {"kommander": "kommander", "flux": "kommander-flux"}
    assert graph.outputs["fluxVersion"] == "2.17.0"
    assert not any(r.protect for r in graph)
    assert gc.get_threshold() == (*young, gc_policy.NO_FULL_COLLECTIONS), "full collections off for the run"


def test_main_fails_fast_on_bad_config(program) -> None:
    config = {**stack_config("dev"), "kommander:clusterName": "Not_Valid"}
    with pytest.raises(ConfigError, match=r"kommander:clusterName: 'Not_Valid' is not a valid DNS-1123 label"):
        program(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=config, stack="dev")
