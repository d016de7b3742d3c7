"""ChartMuseum and Gatekeeper: catalog HelmReleases applied directly; Gatekeeper's lockdown applied by Flux after it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml
from schemas import to_json_schema, validate
from support import build, crd_installer

from components import catalog as cat
from components import config
from components.platform_services import (
    BOOTSTRAP,
    CONSTRAINTS,
    TEMPLATES,
    ChartMuseum,
    Gatekeeper,
    GatekeeperArgs,
    PlatformServiceArgs,
    bootstrap_spec,
    excluded_namespaces,
    release_objects,
)
from components.tenancy_plan import plan

RELEASE = "kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease"
KUSTOMIZATION = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"
VARIABLES = cat.variables(
    release_namespace="kommander",
    flux_namespace="kommander-flux",
    ingress_enabled=False,
    ingress_domain="k.example.com",
    ingress_tls_secret="tls",
)
GATEKEEPER_ARGS = GatekeeperArgs(
    "kommander",
    release_objects("gatekeeper", "3.20.1", VARIABLES),
    flux_namespace="kommander-flux",
    excluded_namespaces=("kommander", "kommander-flux", "ws-a"),
    path_prefix="platform",
)


def _build() -> None:
    ChartMuseum("cm", PlatformServiceArgs("kommander", release_objects("chartmuseum", "3.10.4", VARIABLES)))
    Gatekeeper("gk", GATEKEEPER_ARGS)


def test_releases_are_the_catalog_objects_and_wait_ready(program) -> None:
    graph = program(_build)
    for name, app, version in (("cm", "chartmuseum", "3.10.4"), ("gk", "gatekeeper", "3.20.1")):
        release = graph.one(RELEASE, f"{name}-release")
        defaults = graph.one("kubernetes:core/v1:ConfigMap", f"{name}-defaults")
        cm, hr = release_objects(app, version, VARIABLES)
        assert release.inputs["spec"] == hr["spec"], "the adopted object is exactly the catalog's"
        assert release.inputs["metadata"]["name"] == app == hr["metadata"]["name"]
        assert release.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
        assert release.inputs["metadata"]["annotations"]["pulumi.com/patchForce"] == "true"
        assert defaults.inputs["data"] == cm["data"] and defaults.inputs["metadata"]["name"] == cm["metadata"]["name"]
        assert graph.depends_on(release, defaults)
        assert release.parent == graph.one(f"kommander:index:{'ChartMuseum' if name == 'cm' else 'Gatekeeper'}").urn


def test_gatekeeper_ready_before_templates_before_constraints(program) -> None:
    graph = program(_build)
    release = graph.one(RELEASE, "gk-release")
    templates = graph.one(KUSTOMIZATION, "gk-templates")
    constraints = graph.one(KUSTOMIZATION, "gk-constraints")
    assert graph.depends_on(templates, release) and graph.depends_on(constraints, templates)
    t_spec, c_spec = templates.inputs["spec"], constraints.inputs["spec"]
    assert t_spec["path"] == "./platform/bootstrap/gatekeeper/templates"
    assert c_spec["path"] == "./platform/bootstrap/gatekeeper/constraints"
    assert c_spec["dependsOn"] == [{"name": TEMPLATES, "namespace": "kommander-flux"}]
    # each waits for what it applies; no healthChecks, which Flux ignores with wait
    assert t_spec["wait"] is True and c_spec["wait"] is True
    assert "healthChecks" not in t_spec and "healthChecks" not in c_spec
    assert json.loads(c_spec["postBuild"]["substitute"]["platformNamespaces"]) == [
        "kommander",
        "kommander-flux",
        "ws-a",
    ]
    assert constraints.inputs["metadata"]["name"] == CONSTRAINTS


def test_release_objects_error_on_unknown_version() -> None:
    with pytest.raises(FileNotFoundError, match=r"no applications/gatekeeper/0\.0\.1"):
        release_objects("gatekeeper", "0.0.1", VARIABLES)


# --------------------------------------------------------------------------- bootstrap/gatekeeper files

BOOTSTRAP_DIR = cat.DEFAULT_ROOT / BOOTSTRAP
MATCH_SCHEMA: dict[str, Any] = {
    # Gatekeeper's constraint CRD shape (the part every generated constraint kind shares)
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "constraints.gatekeeper.sh/v1beta1"},
        "kind": {"type": "string"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enforcementAction": {"enum": ["deny", "dryrun", "warn"]},
                "match": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "kinds": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["apiGroups", "kinds"],
                                "properties": {
                                    "apiGroups": {"type": "array", "items": {"type": "string"}},
                                    "kinds": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                        },
                        "excludedNamespaces": {"type": "array", "items": {"type": "string"}},
                        "namespaces": {"type": "array", "items": {"type": "string"}},
                        "scope": {"enum": ["*", "Cluster", "Namespaced"]},
                        "labelSelector": {"type": "object"},
                        "namespaceSelector": {"type": "object"},
                    },
                },
                "parameters": {},
            },
        },
    },
}


def _documents(part: str, variables: dict[str, str]) -> list[dict[str, Any]]:
    return cat.rendered_documents(BOOTSTRAP_DIR / part, variables)


def test_constraint_template_validates_and_names_match() -> None:
    (template,) = _documents("templates", {})
    validate(template)
    kind = template["spec"]["crd"]["spec"]["names"]["kind"]
    assert template["metadata"]["name"] == kind.lower(), "Gatekeeper requires name == lowercase(kind)"
    rego = template["spec"]["targets"][0]["rego"]
    assert rego.startswith(f"package {template['metadata']['name']}\n")
    assert "serviceAccountName" in rego and "violation[" in rego


def test_constraint_matches_template_and_gatekeeper_shape() -> None:
    (template,) = _documents("templates", {})
    cfg = config.parse({"workspaces": [{"name": "edge"}]})
    variables = bootstrap_spec(
        "constraints",
        GatekeeperArgs(
            "kommander",
            release_objects("gatekeeper", "3.20.1", VARIABLES),
            flux_namespace="kommander-flux",
            excluded_namespaces=excluded_namespaces(cfg, plan(cfg.workspaces, cfg.projects)),
        ),
    )["postBuild"]["substitute"]
    (constraint,) = _documents("constraints", variables)
    jsonschema.validate(constraint, MATCH_SCHEMA)
    assert constraint["kind"] == template["spec"]["crd"]["spec"]["names"]["kind"]
    params_schema = to_json_schema(template["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"])
    jsonschema.validate(constraint["spec"]["parameters"], params_schema)
    match = constraint["spec"]["match"]
    assert {(g, k) for entry in match["kinds"] for g in entry["apiGroups"] for k in entry["kinds"]} == {
        ("kustomize.toolkit.fluxcd.io", "Kustomization"),
        ("helm.toolkit.fluxcd.io", "HelmRelease"),
    }
    assert match["excludedNamespaces"] == [
        "kommander",
        "kommander-flux",
        "cert-manager",
        "kube-system",
        "kommander-default-workspace",
        "edge",
    ]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**constraint, "spec": {**constraint["spec"], "bogus": 1}}, MATCH_SCHEMA)


def test_bootstrap_kustomizations_list_their_files() -> None:
    for part in ("templates", "constraints"):
        folder = BOOTSTRAP_DIR / part
        listed = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
        assert sorted(listed) == sorted(p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml")


def test_wired_after_helm_repositories_and_flux(program) -> None:
    graph = program(build())
    for name in ("kommander-chartmuseum-release", "kommander-gatekeeper-release"):
        release = graph.named(name)
        assert graph.depends_on(release, graph.one("kommander:index:HelmRepositories"))
        assert graph.depends_on(release, crd_installer(graph, "helm.toolkit.fluxcd.io/v2"))
        assert graph.depends_on(release, graph.one("kommander:index:FluxConfiguration"))
    for app, service in (("chartmuseum", "ChartMuseum"), ("gatekeeper", "Gatekeeper")):
        adopter = graph.children(graph.one("kommander:index:AppDeployment", f"kommander-app-{app}"))
        assert adopter and all(graph.depends_on(k, graph.one(f"kommander:index:{service}")) for k in adopter)
