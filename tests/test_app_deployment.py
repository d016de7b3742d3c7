"""AppDeployment: the plan from config and catalog, its Kustomizations, and the ladder around it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from support import crd_installer

from components import catalog as cat
from components import config, stack_plan
from components.app_deployment import (
    CORE_VERSIONS,
    HOST_CLUSTER,
    AppDeployment,
    AppDeploymentArgs,
    AppPlan,
    Target,
    app_variables,
    deep_merge,
    kustomization_spec,
    plan,
)
from components.config import ConfigError
from components.flux import controller_values
from components.management_cluster import ManagementCluster

APPS = cat.load_catalog()
KUSTOMIZATION = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"
KUBECONFIG = yaml.safe_dump(
    {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://edge-1.example.com"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
)
WORKSPACES = [{"name": "edge", "labels": {"tier": "edge"}, "clusters": [{"name": "edge-1", "kubeconfig": KUBECONFIG}]}]


def parse(raw: dict[str, Any]) -> config.StackConfig:
    secret = ["workspaces"] if "workspaces" in raw else []
    return config.parse(raw, secret_keys=secret)


def plans(raw: dict[str, Any]) -> dict[str, Any]:
    return {p.app: p for p in plan(parse(raw), APPS)}


# --------------------------------------------------------------------------- the plan


def test_core_apps_always_planned_at_pinned_versions() -> None:
    found = plans({})
    assert set(found) == set(CORE_VERSIONS)
    versions = config.Versions()
    for app, field in CORE_VERSIONS.items():
        assert found[app].version == getattr(versions, field) and found[app].core
        assert [t.cluster for t in found[app].targets] == [HOST_CLUSTER]
    assert found["flux"].targets[0].release_namespace == "kommander-flux"
    assert found["cert-manager"].targets[0].release_namespace == "cert-manager"
    assert found["gitea"].targets[0].release_namespace == "kommander"
    # adopted releases keep the values Pulumi installed them with
    assert found["flux"].targets[0].values == controller_values(config.Flux())
    assert "traefik" not in plans({"ingress": {"enabled": False}})


def test_optional_apps_values_versions_and_dependency_order() -> None:
    raw = {
        "apps": {
            "trust-manager": {"values": {"a": {"b": 1, "c": 2}}},
            "reloader": {"enabled": False},
            "metallb": {"version": "0.15.2"},
        }
    }
    ordered = [p.app for p in plan(parse(raw), APPS)]
    assert "reloader" not in ordered and {"metallb", "trust-manager"} <= set(ordered)
    assert ordered.index("cert-manager") < ordered.index("trust-manager")
    found = plans(raw)
    assert found["trust-manager"].version == APPS["trust-manager"].latest
    assert found["trust-manager"].depends_on == ("cert-manager",)
    assert found["trust-manager"].targets[0].values == {"a": {"b": 1, "c": 2}}
    assert not found["metallb"].core


def test_deep_merge() -> None:
    assert deep_merge({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": 3}, "l": [2]}) == {"a": {"b": 1, "c": 3}, "l": [2]}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"apps": {"nope": {}}},
            r"kommander:apps\.nope: unknown application 'nope' \(catalog: cert-manager, chartmuseum,",
        ),
        (
            {"apps": {"metallb": {"version": "9.9.9"}}},
            r"kommander:apps\.metallb\.version: '9\.9\.9' is not in the catalog \(versions of metallb: 0\.15\.2\)",
        ),
        (
            {"versions": {"traefik": "38.0.0"}},
            r"kommander:versions\.traefik: '38\.0\.0' is not in the catalog \(versions of traefik: 37\.1\.2\)",
        ),
        ({"apps": {"gitea": {"enabled": False}}}, r"kommander:apps\.gitea\.enabled: gitea is a core application"),
        ({"apps": {"gitea": {"version": "1.0.0"}}}, r"kommander:apps\.gitea\.version: .*kommander:versions\.gitea"),
        (
            {"apps": {"metallb": {"clusters": ["nowhere"]}}},
            r"kommander:apps\.metallb\.clusters: unknown cluster 'nowhere' \(known: host-cluster\)",
        ),
        (
            {"workspaces": WORKSPACES, "apps": {"trust-manager": {"clusters": ["edge-1"]}}},
            r"kommander:apps\.trust-manager: needs 'cert-manager' on edge-1",
        ),
        (
            {"workspaces": WORKSPACES, "apps": {"gatekeeper": {"clusters": ["edge-1"]}}},
            r"kommander:apps\.gatekeeper\.clusters: core applications run on host-cluster only",
        ),
        ({"ingress": {"enabled": False}, "apps": {"traefik": {}}}, r"kommander:apps\.traefik: Traefik is deployed"),
    ],
)
def test_config_errors_name_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan(parse(raw), APPS)


def test_overrides_for_unlisted_cluster_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"kommander:apps\.metallb: overrides name clusters the app is not deployed"):
        parse({"apps": {"metallb": {"overrides": {"edge-1": {}}}}})


# --------------------------------------------------------------------------- the component


def _component(raw: dict[str, Any], app: str):
    cfg = parse(raw)
    (found,) = [p for p in plan(cfg, APPS) if p.app == app]

    def fn() -> None:
        AppDeployment("app", AppDeploymentArgs(found, "kommander-flux", app_variables(cfg), "pre"))

    return fn


def test_host_cluster_kustomization_and_override_configmap(program) -> None:
    graph = program(_component({"apps": {"trust-manager": {"values": {"x": 1}}}}, "trust-manager"))
    kustomization = graph.one(KUSTOMIZATION, "app")
    overrides = graph.one("kubernetes:core/v1:ConfigMap", "app-overrides")
    assert kustomization.inputs["metadata"]["name"] == "trust-manager"
    assert kustomization.inputs["metadata"]["namespace"] == "kommander-flux"
    spec = kustomization.inputs["spec"]
    assert spec["path"] == f"./pre/applications/trust-manager/{APPS['trust-manager'].latest}"
    assert spec["sourceRef"] == {"kind": "GitRepository", "name": "management", "namespace": "kommander-flux"}
    assert spec["postBuild"]["substituteFrom"] == [{"kind": "ConfigMap", "name": "substitution-vars", "optional": True}]
    assert spec["postBuild"]["substitute"]["releaseNamespace"] == "kommander"
    assert "dependsOn" not in spec, "cert-manager's host-cluster Kustomization is suspended: Pulumi orders it"
    assert spec["healthChecks"][0]["name"] == "trust-manager" and spec["healthChecks"][0]["kind"] == "HelmRelease"
    assert "kubeConfig" not in spec
    assert overrides.inputs["metadata"] == {
        "annotations": {"pulumi.com/patchForce": "true"},
        "name": "trust-manager-overrides",
        "namespace": "kommander",
        "labels": {
            "app.kubernetes.io/managed-by": "kommander-pulumi",
            "kommander.d2iq.io/application": "trust-manager",
        },
    }
    assert yaml.safe_load(overrides.inputs["data"]["values.yaml"]) == {"x": 1}
    assert graph.depends_on(kustomization, overrides)


def test_depends_on_kept_where_the_dependency_is_not_suspended() -> None:
    """On an attached cluster Flux owns every app, so the dependency is a Flux one."""
    deps = AppPlan("trust-manager", "v0.18.0", "applications/trust-manager/v0.18.0", False, ("cert-manager",), ())
    remote = Target("edge-1", "edge", "edge")
    spec = kustomization_spec(deps, remote, {}, "kommander-flux")
    assert spec["dependsOn"] == [{"name": "cert-manager-edge-1", "namespace": "edge"}]
    host = Target(HOST_CLUSTER, "kommander-flux", "kommander")
    assert "dependsOn" not in kustomization_spec(deps, host, {}, "kommander-flux")


@pytest.mark.parametrize("protect", [False, True])
def test_stateful_apps_orphan_their_release_when_deleted_only_with_protect(protect: bool) -> None:
    cfg = config.parse({"protect": protect})
    variables = app_variables(cfg)
    for p in plan(cfg, APPS):
        for target in p.targets:
            spec = kustomization_spec(p, target, variables, "kommander-flux")
            # the others delete what they applied and wait for it to go (tests/test_deletion_policy.py)
            expected = "Orphan" if protect and p.app in ("gitea", "chartmuseum") else "WaitForTermination"
            assert spec.get("deletionPolicy") == expected, p.app
            assert spec["prune"] is True, "objects that leave the source are still collected"


def test_no_values_no_configmap(program) -> None:
    graph = program(_component({"apps": {"metallb": {}}}, "metallb"))
    assert not graph.of_type("kubernetes:core/v1:ConfigMap")
    assert "dependsOn" not in graph.one(KUSTOMIZATION).inputs["spec"]


def test_attached_cluster_uses_kubeconfig_and_values_patch(program) -> None:
    raw = {
        "workspaces": WORKSPACES,
        "apps": {
            "metallb": {
                "clusters": ["host-cluster", "edge-1"],
                "values": {"a": 1},
                "overrides": {"edge-1": {"b": 2}},
            }
        },
    }
    graph = program(_component(raw, "metallb"))
    remote = graph.one(KUSTOMIZATION, "app-edge-1")
    host = graph.one(KUSTOMIZATION, "app")
    assert remote.inputs["metadata"]["name"] == "metallb-edge-1" and remote.inputs["metadata"]["namespace"] == "edge"
    spec = remote.inputs["spec"]
    assert spec["kubeConfig"] == {"secretRef": {"name": "edge-1-kubeconfig", "key": "value.yaml"}}
    assert spec["postBuild"]["substitute"]["releaseNamespace"] == "edge"
    (patch,) = spec["patches"]
    assert patch["target"] == {"group": "helm.toolkit.fluxcd.io", "kind": "HelmRelease", "name": "metallb"}
    assert yaml.safe_load(patch["patch"])["spec"]["values"] == {"a": 1, "b": 2}
    assert "patches" not in host.inputs["spec"]
    (cm,) = graph.of_type("kubernetes:core/v1:ConfigMap")
    assert yaml.safe_load(cm.inputs["data"]["values.yaml"]) == {"a": 1}


# --------------------------------------------------------------------------- wired into the ladder


def test_wired_apps_order_and_crds(program) -> None:
    raw = {
        "workspaces": WORKSPACES,
        "apps": {"trust-manager": {"values": {"x": 1}}, "external-dns": {"clusters": ["edge-1"]}},
        "ingress": {"certificate": "acme", "acme": {"email": "ops@example.com"}},
        "catalogs": [{"name": "c", "url": "https://g.example.com/c.git"}],
    }
    graph = program(lambda: ManagementCluster("kommander", stack_plan.build(parse(raw))))

    def group(obj: dict[str, Any]) -> str:
        return str(obj["apiVersion"]).split("/")[0]

    customs = [(r, o) for r, o in graph.k8s_objects() if "." in group(o) and not group(o).endswith(".k8s.io")]
    assert {"cert-manager.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io"} <= {
        group(o) for _, o in customs
    }
    for res, obj in customs:
        crd = crd_installer(graph, obj["apiVersion"])
        assert crd is not None and graph.depends_on(res, crd), f"{res.name} does not wait for its CRD"
    deployments = {r.name.removeprefix("kommander-app-"): r for r in graph.of_type("kommander:index:AppDeployment")}
    assert set(deployments) == {*CORE_VERSIONS, "trust-manager", "external-dns"}
    installer = crd_installer(graph, "kustomize.toolkit.fluxcd.io/v1")
    flux_configuration = graph.one("kommander:index:FluxConfiguration")
    for app, dep in deployments.items():
        kustomizations = [r for r in graph.children(dep) if r.type == KUSTOMIZATION]
        assert kustomizations, app
        for k in kustomizations:
            assert graph.depends_on(k, installer) and graph.depends_on(k, flux_configuration)
            assert graph.depends_on(k, graph.one("kommander:index:HelmRepositories"))
    trust = graph.children(deployments["trust-manager"])
    assert all(graph.depends_on(r, deployments["cert-manager"]) for r in trust), "cert-manager first"
    edns = graph.one(KUSTOMIZATION, "kommander-app-external-dns-edge-1")
    assert graph.depends_on(edns, graph.one("kommander:index:Tenancy")), "after the kubeconfig Secret exists"


def test_main_exports_applications_and_tls_secret(program) -> None:
    import runpy

    from support import ROOT, stack_config

    graph = program(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=stack_config("dev"), stack="dev")
    versions = config.Versions()
    assert graph.outputs["applications"] == {app: getattr(versions, f) for app, f in CORE_VERSIONS.items()}
    assert graph.outputs["ingressTlsSecret"] == "kommander-traefik-certificate"


def test_app_without_versions_is_a_config_error(tmp_path) -> None:
    folder = tmp_path / "applications" / "empty"
    folder.mkdir(parents=True)
    (folder / "metadata.yaml").write_text("displayName: E\ndescription: e\ncategory: x\nscope: workspace\n")
    apps = {**APPS, **cat.load_catalog(tmp_path)}
    with pytest.raises(ConfigError, match=r"kommander:apps\.empty: the catalog has no version of empty"):
        plan(parse({"apps": {"empty": {}}}), apps)


def test_pulumi_owned_releases_are_recorded_but_suspended_on_the_host(program) -> None:
    from components.app_deployment import PULUMI_OWNED
    from components.management_cluster import ManagementCluster

    cfg = config.parse({}, stack="dev")
    graph = program(lambda: ManagementCluster("kommander", stack_plan.build(cfg)))
    apps = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in graph.of_type("kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization")
        if "kommander.d2iq.io/application" in r.inputs["metadata"]["labels"]
    }
    assert set(apps) >= PULUMI_OWNED
    for app, spec in apps.items():
        assert spec.get("suspend", False) is (app in PULUMI_OWNED), app
