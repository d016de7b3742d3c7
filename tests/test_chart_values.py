"""Every Helm values key the project sets exists in the chart version it sets it for.

Helm ignores a key the chart does not read, silently: a misspelt key is a setting that
never happens. The source of truth is the charts' own ``values.yaml`` (and
``values.schema.json`` where the chart ships one) in ``../shared/charts/<chart>/<version>/``.

What the project sets, all of it checked:

- in code, for each shipped stack file: the values of the ``helm.sh/v3`` Releases Pulumi
  installs (flux2, cert-manager), of the HelmReleases it applies (``spec.values`` and the
  ConfigMaps of ``valuesFrom``), and of every AppDeployment (its ``<app>-overrides``
  ConfigMap, or the values patch on an attached cluster: the core apps' values and the
  stack file's ``kommander:apps`` values);
- in the bundled catalog: every ``applications/<app>/<version>/`` defaults ConfigMap, and
  values inline in its HelmRelease.

The rule, from the chart's ``values.yaml``: each key set must be a key there, at that
path. Below a key whose default is a non-empty map, each key is checked in turn. Below a
key whose default is an empty map the chart passes the map through (rendered with
``toYaml``), so any key is allowed there: :data:`PASS_THROUGH` names each such map the
project sets keys below, and the test checks that the chart really defaults it to ``{}``.
Where the chart ships ``values.schema.json``, the values Helm validates (the defaults with
the set values merged over them) must validate; where it does not, a map set where the
chart has a scalar or a list (or the reverse) is an error.

The Gitea chart is not in ``../shared`` (its repository could not be obtained), so its
keys are unverified: :data:`UNVERIFIED_GITEA_KEYS` lists every one the project sets, an
accepted and documented exception, and the test fails when the project sets another.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from harness import Graph
from schemas import shared
from stacks import STACKS, stack_graph

from components import catalog as cat

#: Maps the charts pass through (default ``{}``) that the project sets keys below, and why.
PASS_THROUGH = {
    ("flux2", "sourceController.resources.limits"): "the container's resources.limits (toYaml)",
    ("flux2", "kustomizeController.resources.limits"): "the container's resources.limits (toYaml)",
    ("flux2", "helmController.resources.limits"): "the container's resources.limits (toYaml)",
    ("traefik", "tlsStore"): "one TLSStore object per entry (default: the platform's certificate)",
}

#: The Gitea chart (gitea-charts 12.x) keys the project sets, unverified here (no chart in
#: ../shared). ``gitea.config`` holds app.ini sections (the chart writes every
#: ``<section>.<KEY>`` into app.ini); ``gitea.podAnnotations`` and ``persistence.annotations``
#: are maps the chart puts on the pod and the PVC. Keep this list minimal.
UNVERIFIED_GITEA_KEYS = frozenset(
    {
        "replicaCount",
        "strategy.type",
        "gitea.admin.existingSecret",
        "gitea.admin.email",
        "gitea.admin.passwordMode",
        "gitea.config",
        "gitea.podAnnotations",
        "service.http.type",
        "service.http.port",
        "service.http.nodePort",
        "service.ssh.type",
        "persistence.enabled",
        "persistence.size",
        "persistence.accessModes",
        "persistence.annotations",
        "postgresql.enabled",
        "postgresql-ha.enabled",
        "valkey.enabled",
        "valkey-cluster.enabled",
        "ingress.enabled",
        "ingress.className",
        "ingress.hosts",
        "ingress.tls",
    }
)
GITEA_MAPS = ("gitea.config", "gitea.podAnnotations", "persistence.annotations")

VARIABLES = cat.variables(
    release_namespace="kommander",
    flux_namespace="kommander-flux",
    ingress_enabled=True,
    ingress_domain="kommander.example.com",
    ingress_tls_secret="kommander-traefik-certificate",
)


@dataclass(frozen=True)
class SetValues:
    chart: str
    version: str
    origin: str
    values: dict[str, Any]


# --------------------------------------------------------------------------- what the project sets


def catalog_release(app: str, version: str, variables: Mapping[str, str]) -> tuple[dict[str, Any], list[dict]]:
    """The HelmRelease of a catalog app version and the other objects of its folder, substituted."""
    folder = cat.applications_dir(cat.DEFAULT_ROOT)
    assert folder is not None
    docs = cat.rendered_documents(folder / app / version, variables)
    (release,) = [d for d in docs if d.get("kind") == "HelmRelease"]
    return release, docs


def chart_of(release: dict[str, Any]) -> tuple[str, str]:
    spec = release["spec"]["chart"]["spec"]
    return spec["chart"], spec["version"]


def catalog_values() -> Iterator[SetValues]:
    for app, entry in cat.load_catalog(cat.DEFAULT_ROOT).items():
        for version in entry.versions:
            release, docs = catalog_release(app, version, VARIABLES)
            chart, chart_version = chart_of(release)
            configmaps = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
            for ref in release["spec"].get("valuesFrom") or []:
                if ref["kind"] == "ConfigMap" and ref["name"] in configmaps:
                    text = configmaps[ref["name"]]["data"][ref.get("valuesKey", "values.yaml")]
                    yield SetValues(
                        chart, chart_version, f"applications/{app}/{version} {ref['name']}", yaml.safe_load(text)
                    )
            if release["spec"].get("values"):
                yield SetValues(
                    chart, chart_version, f"applications/{app}/{version} HelmRelease", release["spec"]["values"]
                )


def program_values(stack: str, graph: Graph) -> Iterator[SetValues]:
    objects = [(r, o) for r, o in graph.k8s_objects()]
    configmaps = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o for _, o in objects if o["kind"] == "ConfigMap"
    }
    for res in graph.of_type("kubernetes:helm.sh/v3:Release"):
        yield SetValues(
            res.inputs["chart"], res.inputs["version"], f"{stack}: {res.name}", res.inputs.get("values") or {}
        )
    for res, obj in objects:
        if obj["kind"] == "HelmRelease":
            chart, version = chart_of(obj)
            namespace = obj["metadata"]["namespace"]
            for ref in obj["spec"].get("valuesFrom") or []:
                found = configmaps.get((namespace, ref["name"])) if ref["kind"] == "ConfigMap" else None
                if found is not None:
                    text = found["data"][ref.get("valuesKey", "values.yaml")]
                    yield SetValues(chart, version, f"{stack}: {res.name} {ref['name']}", yaml.safe_load(text) or {})
            if obj["spec"].get("values"):
                yield SetValues(chart, version, f"{stack}: {res.name}", obj["spec"]["values"])
        labels, annotations = obj["metadata"].get("labels") or {}, obj["metadata"].get("annotations") or {}
        app, version = labels.get("kommander.d2iq.io/application"), annotations.get("kommander.d2iq.io/version")
        if obj["kind"] != "Kustomization" or not app or not version:
            continue
        variables = obj["spec"]["postBuild"]["substitute"]
        release, _ = catalog_release(app, version, variables)
        chart, chart_version = chart_of(release)
        for patch in obj["spec"].get("patches") or []:
            values = yaml.safe_load(patch["patch"])["spec"]["values"]
            yield SetValues(chart, chart_version, f"{stack}: {res.name} values patch", values)
        if "kubeConfig" not in obj["spec"]:
            overrides = configmaps.get((variables["releaseNamespace"], cat.overrides_name(app)))
            if overrides is not None:
                text = overrides["data"]["values.yaml"]
                yield SetValues(chart, chart_version, f"{stack}: {cat.overrides_name(app)}", yaml.safe_load(text) or {})


def everything() -> list[SetValues]:
    found = list(catalog_values())
    for stack in STACKS:
        found += program_values(stack, stack_graph(stack))
    return found


@pytest.fixture(scope="module")
def set_values() -> list[SetValues]:
    return everything()


# --------------------------------------------------------------------------- the charts' values


def chart_dir(chart: str, version: str) -> Path:
    return shared("charts", chart, version)


def chart_defaults(chart: str, version: str) -> dict[str, Any]:
    return yaml.safe_load((chart_dir(chart, version) / "values.yaml").read_text()) or {}


def unknown_keys(
    chart: str, values: Mapping[str, Any], defaults: Mapping[str, Any], strict_types: bool, path: str = ""
) -> list[str]:
    """Keys of ``values`` that are not keys of the chart's ``defaults`` (see the module docstring)."""
    problems = []
    for key, value in values.items():
        here = f"{path}.{key}" if path else str(key)
        if key not in defaults:
            problems.append(f"{here}: not a key of the chart's values.yaml")
            continue
        default = defaults[key]
        if value is None:
            continue  # Helm deletes the default
        if isinstance(value, Mapping) and isinstance(default, Mapping) and default:
            problems += unknown_keys(chart, value, default, strict_types, here)
        elif isinstance(value, Mapping) and default in ({}, None):
            if (chart, here) not in PASS_THROUGH:
                problems.append(f"{here}: a map the chart passes through, not listed in PASS_THROUGH")
        elif strict_types and default is not None and isinstance(value, Mapping) != isinstance(default, Mapping):
            problems.append(f"{here}: {type(value).__name__} where the chart has {type(default).__name__}")
    return problems


def helm_coalesce(user: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The values Helm renders and validates: maps merge, a null deletes the default."""
    out = dict(defaults)
    for key, value in user.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = helm_coalesce(value, out[key])
        else:
            out[key] = value
    return out


def problems_of(item: SetValues) -> list[str]:
    schema_path = chart_dir(item.chart, item.version) / "values.schema.json"
    defaults = chart_defaults(item.chart, item.version)
    found = unknown_keys(item.chart, item.values, defaults, strict_types=not schema_path.is_file())
    if schema_path.is_file():
        schema = json.loads(schema_path.read_text())
        validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)(schema)
        for error in validator.iter_errors(helm_coalesce(item.values, defaults)):
            found.append(f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message} (values.schema.json)")
    return [f"{item.chart} {item.version} ({item.origin}): {p}" for p in found]


# --------------------------------------------------------------------------- the tests


def test_every_chart_in_shared_is_checked_and_every_catalog_chart_is_there(set_values: list[SetValues]) -> None:
    in_shared = {(p.parent.name, p.name) for p in shared("charts").glob("*/*") if (p / "values.yaml").is_file()}
    checked = {(v.chart, v.version) for v in set_values}
    assert in_shared - checked == set(), "charts in ../shared/charts the project sets no values for"
    assert {c for c in checked if c[0] != "gitea"} - in_shared == set(), "charts set but missing from ../shared/charts"
    assert not shared("charts").joinpath("gitea").exists(), (
        "Gitea's chart is in ../shared now: check its keys like the others and drop UNVERIFIED_GITEA_KEYS"
    )


def test_every_key_set_exists_in_the_chart(set_values: list[SetValues]) -> None:
    problems = [p for item in set_values if item.chart != "gitea" for p in problems_of(item)]
    assert problems == [], "\n".join(problems)


def test_pass_through_maps_default_to_an_empty_map(set_values: list[SetValues]) -> None:
    versions = {v.chart: v.version for v in set_values}
    for chart, path in PASS_THROUGH:
        node: Any = chart_defaults(chart, versions[chart])
        for part in path.split("."):
            node = node[part]
        assert node == {}, f"{chart} {path}: defaults to {node!r}, not a pass-through map"


def gitea_keys(values: Mapping[str, Any], path: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in values.items():
        here = f"{path}.{key}" if path else str(key)
        if isinstance(value, Mapping) and value and here not in GITEA_MAPS:
            out |= gitea_keys(value, here)
        else:
            out.add(here)
    return out


def test_gitea_keys_are_the_documented_unverified_ones(set_values: list[SetValues]) -> None:
    gitea = [v for v in set_values if v.chart == "gitea"]
    assert gitea, "expected Gitea values (code and catalog)"
    keys = set().union(*(gitea_keys(v.values) for v in gitea))
    assert keys - UNVERIFIED_GITEA_KEYS == set(), "new Gitea keys: verify them against the chart and list them"
    assert UNVERIFIED_GITEA_KEYS - keys == set(), "listed Gitea keys the project no longer sets"
