"""The application catalog this project ships, and the pure helpers that read it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from schemas import validate

from components import catalog as cat
from components import config
from components.config import Versions
from components.helm_repositories import repository_objects

ROOT = cat.DEFAULT_ROOT
APPS = cat.load_catalog(ROOT)
VARIABLES = cat.variables(
    release_namespace="kommander",
    flux_namespace="kommander-flux",
    ingress_enabled=True,
    ingress_domain="kommander.example.com",
    ingress_tls_secret="kommander-traefik-certificate",
)
VERSION_FOLDERS = sorted((app, version) for app in APPS for version in APPS[app].versions)


# --------------------------------------------------------------------------- substitution


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("${a}", {"a": "x"}, "x"),
        ("${a:=d}", {}, "d"),
        ("${a:=d}", {"a": ""}, "d"),
        ("${a:=d}", {"a": "x"}, "x"),
        ("${a:-d}", {"a": ""}, "d"),
        ("${a=d}", {"a": ""}, ""),
        ("${a=d}", {}, "d"),
        ("${a-d}", {"a": "x"}, "x"),
        ("url: ${helmMirrorURL:=https://charts.example.com/x}", {}, "url: https://charts.example.com/x"),
        ("url: ${helmMirrorURL:=https://charts.example.com/x}", {"helmMirrorURL": "oci://m"}, "url: oci://m"),
        ("$a and {a} stay", {"a": "x"}, "$a and {a} stay"),
        ("${a}-${b:=2}-${a}", {"a": "1"}, "1-2-1"),
    ],
)
def test_substitute(text: str, variables: dict[str, str], expected: str) -> None:
    assert cat.substitute(text, variables) == expected


def test_substitute_rejects_an_unset_variable_without_default() -> None:
    with pytest.raises(cat.SubstitutionError, match="variable 'releaseNamespace' is not set and has no default"):
        cat.substitute("namespace: ${releaseNamespace}", {})


def test_version_key_orders_semver() -> None:
    assert sorted(["1.10.0", "1.9.2", "v1.2.0", "2.0.0-rc.1"], key=cat.version_key) == [
        "v1.2.0",
        "1.9.2",
        "1.10.0",
        "2.0.0-rc.1",
    ]


# --------------------------------------------------------------------------- the shipped catalog


def test_catalog_has_core_and_optional_apps() -> None:
    core = {"flux", "cert-manager", "gitea", "chartmuseum", "gatekeeper", "traefik"}
    assert {a for a, app in APPS.items() if app.metadata.core} == core
    assert {"reloader", "external-dns", "metallb"} <= {a for a, app in APPS.items() if not app.metadata.core}


def test_core_versions_match_config_defaults() -> None:
    pinned = Versions()
    for app, field in (
        ("flux", "flux"),
        ("cert-manager", "certManager"),
        ("gitea", "gitea"),
        ("chartmuseum", "chartmuseum"),
        ("gatekeeper", "gatekeeper"),
        ("traefik", "traefik"),
    ):
        assert getattr(pinned, field) in APPS[app].versions, app


@pytest.mark.parametrize("app", sorted(APPS))
def test_metadata_has_every_field(app: str) -> None:
    raw = yaml.safe_load((ROOT / APPS[app].path / "metadata.yaml").read_text())
    for key in ("displayName", "description", "category", "scope", "core"):
        assert raw.get(key) not in (None, ""), f"{app}: metadata.yaml lacks {key}"
    assert raw["scope"] in cat.SCOPES and isinstance(raw["core"], bool)
    for dep in raw.get("dependsOn") or []:
        assert dep in APPS, f"{app} depends on {dep}, which is not in the catalog"


def _listed_files(folder: Path) -> list[Path]:
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    out = []
    for entry in kustomization["resources"]:
        target = folder / entry
        assert target.exists(), f"{folder}/kustomization.yaml lists {entry}, which does not exist"
        out += _listed_files(target) if target.is_dir() else [target]
    return out


@pytest.mark.parametrize(("app", "version"), VERSION_FOLDERS)
def test_every_version_folder_builds_and_validates(app: str, version: str) -> None:
    folder = ROOT / APPS[app].version_path(version)
    files = _listed_files(folder)
    on_disk = {p for p in folder.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert set(files) == on_disk, "every manifest is listed, and only those"
    docs = cat.rendered_documents(folder, VARIABLES)
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"HelmRelease", "ConfigMap"}
    for doc in docs:
        validate(doc)
    release, defaults = kinds["HelmRelease"], kinds["ConfigMap"]
    assert release["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    assert release["metadata"] == {"name": app, "namespace": "kommander"}
    chart = release["spec"]["chart"]["spec"]
    assert chart["version"] == version, "the chart version is pinned to the folder's version"
    source = chart["sourceRef"]
    assert source["kind"] == "HelmRepository" and source["namespace"] == "kommander-flux"
    assert source["name"] in cat.helm_repositories(ROOT, {}), f"{app}: unknown HelmRepository {source['name']}"
    assert defaults["metadata"]["name"] == cat.defaults_name(app, version)
    assert release["spec"]["valuesFrom"] == [
        {"kind": "ConfigMap", "name": cat.defaults_name(app, version), "valuesKey": "values.yaml"},
        {"kind": "ConfigMap", "name": cat.overrides_name(app), "valuesKey": "values.yaml", "optional": True},
    ]
    assert isinstance(yaml.safe_load(defaults["data"]["values.yaml"]), dict)


def test_ingress_variables_reach_the_values() -> None:
    folder = ROOT / APPS["chartmuseum"].version_path("3.10.4")
    off = {**VARIABLES, "ingressEnabled": "false"}
    for variables, enabled in ((VARIABLES, True), (off, False)):
        cm = next(d for d in cat.rendered_documents(folder, variables) if d["kind"] == "ConfigMap")
        values = yaml.safe_load(cm["data"]["values.yaml"])
        assert values["ingress"]["enabled"] is enabled
        assert values["ingress"]["hosts"][0]["name"] == "kommander.example.com"


def test_every_helm_repository_file_goes_through_the_mirror() -> None:
    files = cat.helm_repository_files(ROOT)
    assert len(files) >= 6
    for path in files:
        text = path.read_text()
        assert '"${helmMirrorURL:=' in text, f"{path.name}: url must use ${{helmMirrorURL:=<default>}}"
    plain = repository_objects([ROOT], None, None, "kommander-flux")
    mirrored = repository_objects([ROOT], "https://mirror.example.com/charts", None, "kommander-flux")
    assert plain.keys() == mirrored.keys() == {p.stem for p in files}
    for key in plain:
        validate(plain[key])
        assert plain[key]["metadata"]["name"] == key
        assert plain[key]["spec"]["url"].startswith("https://") and "mirror" not in plain[key]["spec"]["url"]
        assert mirrored[key]["spec"]["url"] == "https://mirror.example.com/charts"


def test_read_metadata_errors(tmp_path: Path) -> None:
    path = tmp_path / "metadata.yaml"
    path.write_text("type: internal\n")
    assert cat.read_metadata("x", path).displayName == "x"  # kommander-applications' metadata has no displayName
    for text, message in [
        ("scope: cluster\n", "scope 'cluster' is not one of workspace, project"),
        ("core: maybe\n", "core must be true or false"),
        ("dependencies: {a: b}\n", "dependencies must be a list of names"),
        ("- a\n", "must be a mapping"),
        ("a: [\n", "not valid YAML"),
    ]:
        path.write_text(text)
        with pytest.raises(cat.CatalogError, match=message):
            cat.read_metadata("x", path)


def test_services_layout_is_accepted(tmp_path: Path) -> None:
    app = tmp_path / "services" / "demo" / "1.0.0"
    app.mkdir(parents=True)
    (app / "kustomization.yaml").write_text("resources: []\n")
    (app.parent / "bootstrap").mkdir()  # not a version: kommander-applications keeps other folders next to them
    (app.parent / "bootstrap" / "kustomization.yaml").write_text("resources: []\n")
    (app.parent / "metadata.yaml").write_text("displayName: D\ndescription: d\ncategory: x\nscope: project\n")
    found = cat.load_catalog(tmp_path)
    assert found["demo"].path == "services/demo"  # published where it is, so nested paths keep working
    assert found["demo"].versions == ("1.0.0",)
    assert found["demo"].metadata.core is False and found["demo"].metadata.category == ("x",)


@pytest.mark.parametrize("layout", ["applications", "services"])
@pytest.mark.parametrize("prefix", ["", "tenants/mgmt"])
def test_app_deployments_point_at_paths_the_repository_publishes(layout: str, prefix: str, tmp_path: Path) -> None:
    """The AppDeployments' paths and the repository content agree, for both layouts, with and without a prefix."""
    import shutil

    from components import repository_content, stack_plan

    shutil.copytree(cat.DEFAULT_ROOT / "applications", tmp_path / layout)
    shutil.copytree(cat.DEFAULT_ROOT / "common", tmp_path / "common")
    cfg = config.parse({"applicationsPath": str(tmp_path), "apps": {"reloader": {}}, "gitea": {"pathPrefix": prefix}})
    plan = stack_plan.build(cfg)
    published = {path.rsplit("/", 1)[0] for path in repository_content.collect(plan.content)}
    assert {p.app for p in plan.app_plans} >= {"flux", "gitea", "reloader"}
    for p in plan.app_plans:
        assert p.path in published, f"{p.app}: Kustomization path {p.path} is not in the repository"
