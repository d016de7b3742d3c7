"""Values set as secrets in ``kommander:apps.<app>.values`` reach the HelmRelease through a Secret only.

Never through a ConfigMap (readable by anyone who may read ConfigMaps, and plaintext in
the state) or a Kustomization patch (plaintext in the Kustomization): the Secret's data
is secret in the state, and the HelmRelease reads it with ``valuesFrom`` kind Secret.
"""

from __future__ import annotations

import json

import pytest
import yaml
from support import kubeconfig

from components import config, stack_plan
from components.management_cluster import ManagementCluster

TOKEN = "s3cr3t-canary-token"
RAW = {"apps": {"reloader": {"values": {"reloader": {"token": TOKEN}, "replicas": 2}}}}
LEAF = "apps.reloader.values.reloader.token"


def test_a_secret_value_goes_through_a_secret_and_nowhere_else(program) -> None:
    cfg = config.parse(RAW, secret_keys=[LEAF])
    graph = program(lambda: ManagementCluster("kommander", stack_plan.build(cfg)))
    secret = graph.one("kubernetes:core/v1:Secret", "kommander-app-reloader-overrides-secret")
    assert secret.inputs["metadata"]["name"] == "reloader-overrides"
    assert yaml.safe_load(secret.inputs["stringData"]["values.yaml"])["reloader"]["token"] == TOKEN
    assert any(p.startswith("stringData") for p in secret.secret_paths)
    for r in graph.resources:
        if r is secret:
            continue
        assert TOKEN not in json.dumps(r.inputs, default=str), f"{r.type} {r.name} carries the secret value"
    kustomization = graph.one("kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization", "kommander-app-reloader")
    patch = yaml.safe_load(kustomization.inputs["spec"]["patches"][0]["patch"])
    assert patch[0]["value"] == {
        "kind": "Secret",
        "name": "reloader-overrides",
        "valuesKey": "values.yaml",
        "optional": True,
    }


def test_plain_values_keep_the_configmap(program) -> None:
    graph = program(lambda: ManagementCluster("kommander", stack_plan.build(config.parse(RAW))))
    assert graph.one("kubernetes:core/v1:ConfigMap", "kommander-app-reloader-overrides")
    assert not [r for r in graph.resources if r.name == "kommander-app-reloader-overrides-secret"]


def test_secret_values_for_an_attached_cluster_are_refused() -> None:
    raw = {
        "workspaces": [{"name": "edge", "clusters": [{"name": "edge-1", "kubeconfig": kubeconfig("edge-1")}]}],
        "apps": {"reloader": {"values": {"token": TOKEN}, "clusters": ["host-cluster", "edge-1"]}},
    }
    with pytest.raises(config.ConfigError, match=r"^kommander:apps\.reloader\.values: values set as secrets") as err:
        stack_plan.build(
            config.parse(raw, secret_keys=["apps.reloader.values.token", "workspaces[0].clusters[0].kubeconfig"])
        )
    assert TOKEN not in str(err.value)
