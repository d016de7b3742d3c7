"""Real kommander-applications trees (``../shared/catalogs``) as ``kommander:applicationsPath``.

Judged against the trees themselves and the pinned CRDs: the published content keeps the
tree's layout (nested Kustomizations' paths exist), every Flux object is at a version the
pinned Flux serves and valid against its CRD, every app deploys alone or fails with an error
naming its key and saying why, everything that deploys alone deploys together, and no
``${var}`` without a default is left for Flux to meet unset.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml
from schemas import shared, validate

from components import app_deployment, app_versions, config, repository_content, stack_plan
from components import catalog as cat

TREES = ("kommander-applications-v2.2.0", "kommander-applications-v2.16.1")


def tree(name: str) -> Path:
    return shared("catalogs", name)


@functools.cache
def catalog_of(name: str) -> cat.Catalog:
    return cat.load(tree(name))


def cfg_for(name: str, apps: dict[str, Any] | None = None, **extra: Any) -> config.StackConfig:
    return config.parse({"applicationsPath": str(tree(name)), "apps": apps or {}, **extra})


@functools.cache
def base_plan(name: str) -> stack_plan.StackPlan:
    return stack_plan.build(cfg_for(name))


@functools.cache
def outcome(name: str, app: str) -> str | None:
    """None when ``app`` alone deploys, else the config error's message (the app plan ``build`` runs)."""
    base = base_plan(name)
    try:
        app_deployment.plan(cfg_for(name, {app: {}}), base.apps, base.tenancy, stack_variables=base.variables)
    except config.ConfigError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("name", TREES)
def test_layout_versions_and_metadata_are_read(name: str) -> None:
    catalog = catalog_of(name)
    assert catalog.layout == ("services" if "v2.2" in name else "applications")
    assert len(catalog.apps) > 40
    for app in catalog.apps.values():
        assert app.path == f"{catalog.layout}/{app.name}"
        # version folders only: bootstrap/, charts/, release/ ... are not versions
        assert app.versions and all(cat.VERSION_DIR.match(v) for v in app.versions), app.name
    # app-level folders beside the versions are not taken for versions
    assert "bootstrap" not in catalog.apps["cert-manager"].versions
    flux = catalog.apps["kommander-flux"]
    assert flux.metadata.type in ("internal", "platform", "nkp-core-platform")


def test_dependencies_come_from_the_layouts_metadata() -> None:
    """2.16 keeps metadata per version with ``dependencies`` / ``requiredDependencies``."""
    apps = catalog_of("kommander-applications-v2.16.1").apps
    karma = apps["karma"]
    assert karma.metadata_of(karma.latest).dependsOn == ("karma-traefik",)
    grafana_loki = apps["grafana-loki"]
    assert "rook-ceph-cluster" in grafana_loki.metadata_of(grafana_loki.latest).dependsOn


@pytest.mark.parametrize("name", TREES)
@pytest.mark.parametrize("prefix", ["", "fleet/mgmt"])
def test_published_tree_keeps_its_layout_and_nested_paths_resolve(name: str, prefix: str) -> None:
    plan = stack_plan.build(cfg_for(name, gitea={"pathPrefix": prefix}))
    files = repository_content.collect(plan.content)
    catalog = catalog_of(name)
    source = {
        p.relative_to(tree(name)).as_posix()
        for p in tree(name).rglob("*")
        if p.is_file() and p.relative_to(tree(name)).parts[0] in (catalog.layout, "common")
    }
    assert source <= set(files), "every file of the tree is published at its own path"
    folders = {path.rsplit("/", 1)[0] for path in files}
    checked = 0
    for path, data in files.items():
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(data):
            if isinstance(doc, dict) and doc.get("kind") == "Kustomization" and "toolkit" in doc.get("apiVersion", ""):
                target = doc["spec"]["path"].removeprefix("./")
                if prefix:
                    assert target.startswith(f"{prefix}/"), f"{path}: {target} misses the prefix"
                    target = target.removeprefix(f"{prefix}/")
                assert any(f == target or f.startswith(f"{target}/") for f in folders), f"{path}: {target}"
                checked += 1
    assert checked > 5
    for app_plan in plan.app_plans:
        assert app_plan.path in folders, f"{app_plan.app}: {app_plan.path} is not published"


@functools.cache
def _served(api_version: str, kind: str) -> tuple[bool, bool]:
    """(served, deprecated) of ``apiVersion`` for ``kind``, read off the pinned CRD."""
    group, _, version = api_version.partition("/")
    for path in shared("schemas", "crds").glob(f"{group}_*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            for v in crd["spec"]["versions"]:
                if v["name"] == version:
                    return bool(v.get("served")), bool(v.get("deprecated", False))
    return False, False


@pytest.mark.parametrize("name", TREES)
def test_every_flux_object_is_upgraded_to_a_served_version_and_valid(name: str) -> None:
    files = repository_content.collect(stack_plan.build(cfg_for(name)).content)
    patches = set()  # kustomize patch fragments are not whole objects
    for path, data in files.items():
        if path.endswith("kustomization.yaml"):
            doc = yaml.safe_load(data) or {}
            folder = path.rsplit("/", 1)[0]
            for entry in [*(doc.get("patches") or []), *(doc.get("patchesStrategicMerge") or [])]:
                if isinstance(entry, dict) and "path" in entry:
                    patches.add(f"{folder}/{entry['path']}")
                elif isinstance(entry, str):
                    patches.add(f"{folder}/{entry}")
    before = upgraded = 0
    for path, data in files.items():
        if not path.endswith((".yaml", ".yml")) or not path.startswith(("services/", "applications/", "common/")):
            continue
        if path in patches:
            continue
        original = tree(name) / path
        for doc in yaml.safe_load_all(data):
            if not isinstance(doc, dict) or doc.get("apiVersion", "").split("/")[0] not in cat.FLUX_GROUPS:
                continue
            served, deprecated = _served(doc["apiVersion"], doc["kind"])
            assert served and not deprecated, f"{path}: {doc['apiVersion']} {doc['kind']}"
            upgraded += 1
            # the schema check needs concrete values where the tree has variables
            concrete = yaml.safe_load(
                cat.substitute(
                    yaml.safe_dump(doc),
                    {v: "x1" for v in cat.required_variables(yaml.safe_dump(doc))},
                )
            )
            validate(concrete)
        if original.is_file() and data != original.read_bytes():
            before += 1
    assert upgraded > 20
    if name.endswith("v2.2.0"):
        assert before > 20, "the 2.2 tree's v2beta1 / v1beta1 / v1beta2 files are rewritten"


@pytest.mark.parametrize("name", TREES)
def test_each_app_alone_deploys_or_says_why(name: str) -> None:
    catalog = catalog_of(name)
    worked, refused = [], []
    for app in sorted(catalog.apps):
        message = outcome(name, app)
        if message is None:
            worked.append(app)
            continue
        refused.append(app)
        assert message.startswith(f"kommander:apps.{app}"), message
        assert any(
            why in message
            for why in ("needs substitution variables", "needs '", "is a core application", "the platform's", "ingress")
        ), message
    assert len(worked) >= 20, worked
    # Kommander's own controllers need what only Kommander's installer sets
    assert "kommander" in refused and "kommander-appmanagement" in refused
    # Flux is the platform's, never the tree's
    assert "the platform's flux" in str(outcome(name, "kommander-flux"))


@pytest.mark.parametrize("name", TREES)
def test_everything_that_deploys_alone_deploys_together(name: str, program) -> None:
    catalog = catalog_of(name)
    ok = {app: {} for app in sorted(catalog.apps) if outcome(name, app) is None}
    cfg = cfg_for(name, ok, ingress={"enabled": True})
    plan = stack_plan.build(cfg)
    assert {p.app for p in plan.app_plans} >= set(ok)
    from components.management_cluster import ManagementCluster

    graph = program(lambda: ManagementCluster("kommander", plan))  # every object validated against its schema
    kustomizations = graph.of_type("kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization")
    names = {k.inputs["metadata"]["name"] for k in kustomizations}
    for app_plan in plan.app_plans:
        assert app_plan.app in names
        if app_plan.defaults:
            assert f"{app_plan.app}-defaults" in names
    # with the refused ones too: the first one's keyed error
    everything = {app: {} for app in catalog.apps}
    with pytest.raises(config.ConfigError, match=r"^kommander:apps\."):
        stack_plan.build(cfg_for(name, everything, ingress={"enabled": True}))


@pytest.mark.parametrize("name", TREES)
def test_no_variable_without_a_default_is_left_unset(name: str) -> None:
    """For every manifest Flux would apply for the apps that deploy, each ``${var}`` is supplied."""
    catalog = catalog_of(name)
    cfg = cfg_for(name, {app: {} for app in catalog.apps if outcome(name, app) is None})
    plan = stack_plan.build(cfg)
    checked = 0
    for app_plan in plan.app_plans:
        entry = plan.apps[app_plan.app]
        if app_plan.core or entry.folder is None:
            continue
        for target in app_plan.targets:
            given = {**plan.variables, **app_plan.deployment_variables(target)}
            folder = entry.folder / app_plan.version
            assert app_versions.missing_variables(folder, tree(name), given, plan.variables) == {}
            cat.rendered_documents(folder, given)  # Flux's substitution itself succeeds (raises when one is unset)
            checked += 1
    assert checked >= 20


def test_an_app_that_needs_a_variable_takes_it_from_its_config() -> None:
    name = "kommander-applications-v2.2.0"
    message = str(outcome(name, "metallb"))
    assert "addresses" in message and "kommander:apps.metallb.variables" in message
    plan = stack_plan.build(cfg_for(name, {"metallb": {"variables": {"addresses": "10.0.0.10-10.0.0.20"}}}))
    metallb = next(p for p in plan.app_plans if p.app == "metallb")
    target = metallb.targets[0]
    spec = app_deployment.kustomization_spec(metallb, target, plan.catalog_variables, "kommander-flux")
    assert spec["postBuild"]["substitute"]["addresses"] == "10.0.0.10-10.0.0.20"
    assert spec["postBuild"]["substitute"]["releaseName"] == "metallb"
    assert spec["postBuild"]["substitute"]["appVersion"] == metallb.version
    assert spec["postBuild"]["substitute"]["workspaceNamespace"] == "kommander"
    assert spec["postBuild"]["substituteFrom"] == [{"kind": "ConfigMap", "name": "substitution-vars", "optional": True}]


def test_separate_defaults_are_applied_first_and_values_reach_the_release() -> None:
    name = "kommander-applications-v2.16.1"
    values = {"x": 1}
    plan = stack_plan.build(cfg_for(name, {"cloudnative-pg": {"values": values}, "reloader": {"values": values}}))
    by_app = {p.app: p for p in plan.app_plans}
    pg = by_app["cloudnative-pg"]
    assert pg.defaults and pg.path == f"applications/cloudnative-pg/{pg.version}"
    target = pg.targets[0]
    spec = app_deployment.kustomization_spec(pg, target, plan.catalog_variables, "kommander-flux")
    assert {"name": "cloudnative-pg-defaults", "namespace": "kommander-flux"} in spec["dependsOn"]
    defaults = app_deployment.defaults_spec(pg, target, plan.catalog_variables, "kommander-flux")
    assert defaults["path"] == f"./applications/cloudnative-pg/{pg.version}/defaults"
    # the tree's HelmRelease reads only its defaults: a patch appends the overrides
    assert [yaml.safe_load(p["patch"]) for p in spec["patches"]] == [
        [
            {
                "op": "add",
                "path": "/spec/valuesFrom/-",
                "value": {
                    "kind": "ConfigMap",
                    "name": "cloudnative-pg-overrides",
                    "valuesKey": "values.yaml",
                    "optional": True,
                },
            }
        ]
    ]
    assert spec["healthChecks"] == [
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "name": "cloudnative-pg",
            "namespace": "kommander",
        }
    ]
    # a release that already reads <app>-overrides (the tree's reloader) needs no patch
    reloader = by_app["reloader"]
    assert "patches" not in app_deployment.kustomization_spec(
        reloader, reloader.targets[0], plan.catalog_variables, "kommander-flux"
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda root: (root / "services" / "dex" / "metadata.yaml").write_text("scope: [cluster]\n"),
            "dex/metadata.yaml: scope",
        ),
        (lambda root: (root / "services" / "dex" / "metadata.yaml").write_bytes(b"\xff\xfe"), "not UTF-8"),
        (
            lambda root: (root / "common" / "helm-repositories" / "bitnami.yaml").write_text("a: [\n"),
            "bitnami.yaml: not valid YAML",
        ),
        (
            lambda root: (
                (root / "services" / "reloader" / "v9.9.9").mkdir()
                or (root / "services" / "reloader" / "v9.9.9" / "kustomization.yaml").write_text(
                    "resources: [gone.yaml]\n"
                )
            ),
            "resource 'gone.yaml' does not exist",
        ),
        (
            lambda root: (root / "services" / "reloader" / "link.yaml").symlink_to("/etc/hostname"),
            "symbolic link out of the catalog",
        ),
    ],
)
def test_a_broken_tree_is_a_keyed_error_before_anything(tmp_path: Path, mutate: Any, message: str) -> None:
    import shutil

    root = tmp_path / "catalog"
    shutil.copytree(tree("kommander-applications-v2.2.0"), root)
    mutate(root)
    apps = {"reloader": {}} if "gone" in message else {}
    with pytest.raises(
        config.ConfigError, match=r"^kommander:applicationsPath: .*" + message.replace(".", r"\.").replace("[", r"\[")
    ):
        stack_plan.build(config.parse({"applicationsPath": str(root), "apps": apps}))


def test_oci_sources_pull_through_an_oci_mirror_and_trust_its_ca() -> None:
    """v2.16 charts come from one OCIRepository per app: with an oci:// mirror they pull through it."""
    name = "kommander-applications-v2.16.1"
    mirror = "oci://registry.airgap.example/charts"
    plan = stack_plan.build(cfg_for(name, helmMirrorUrl=mirror, helmMirrorCaSecret="mirror-ca"))
    files = repository_content.collect(plan.content)
    sources = [
        doc
        for path, data in files.items()
        if path.startswith("applications/") and path.endswith(".yaml")
        for doc in yaml.safe_load_all(data)
        if isinstance(doc, dict) and doc.get("kind") == "OCIRepository"
    ]
    assert len(sources) > 20
    for doc in sources:
        assert doc["spec"]["url"].startswith(f"{mirror}/"), doc["spec"]["url"]
        assert doc["spec"]["certSecretRef"] == {"name": "mirror-ca"}
    chartmuseum = yaml.safe_load_all(files["applications/chartmuseum/3.10.4/chartmuseum.yaml"])
    assert next(d for d in chartmuseum if d["kind"] == "OCIRepository")["spec"]["url"] == f"{mirror}/chartmuseum"
    # without a mirror the upstream URLs stay, byte for byte
    plain = repository_content.collect(stack_plan.build(cfg_for(name)).content)
    path = "applications/chartmuseum/3.10.4/chartmuseum.yaml"
    assert plain[path] == (tree(name) / path).read_bytes()


def test_a_checkout_reached_through_a_symbolic_link_is_read_where_it_is(tmp_path: Path) -> None:
    """``applicationsPath`` may itself be a link (a checkout kept elsewhere): the checks read the real files."""
    name = "kommander-applications-v2.2.0"
    link = tmp_path / "catalog"
    link.symlink_to(tree(name))
    cfg = config.parse({"applicationsPath": str(link), "apps": {"dex": {}}})
    assert "dex" in {p.app for p in stack_plan.build(cfg).app_plans}
    with pytest.raises(config.ConfigError, match=r"kommander:apps\.fluent-bit: .*FLUENT_BIT_NODE_NAME"):
        stack_plan.build(config.parse({"applicationsPath": str(link), "apps": {"fluent-bit": {}}}))
