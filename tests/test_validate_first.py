"""Bad config and bad catalogs stop the program before its first resource is registered.

The program (``__main__.py``) runs under the SDK's mocks with a monitor that counts
registrations: each case must end in one ``ConfigError`` naming the key, with nothing
registered (a real ``pulumi up`` would otherwise have deployed part of the platform).
The offline check of ``python -m automation`` (the stack file validated without the
engine) must find the same errors.
"""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path
from typing import Any

import harness
import pytest
import yaml
from support import ROOT, stack_config

from components import catalog as cat
from components.config import ConfigError


def _catalog_with(tmp_path: Path, edit: Any) -> str:
    root = tmp_path / "catalog"
    shutil.copytree(cat.DEFAULT_ROOT / "applications", root / "applications")
    shutil.copytree(cat.DEFAULT_ROOT / "common", root / "common")
    edit(root)
    return str(root)


def _cycle(root: Path) -> None:
    for app, dep in (("reloader", "external-dns"), ("external-dns", "reloader")):
        meta = root / "applications" / app / "metadata.yaml"
        data = yaml.safe_load(meta.read_text())
        data["dependsOn"] = [dep]
        meta.write_text(yaml.safe_dump(data))


def _not_utf8(root: Path) -> None:
    (root / "applications" / "reloader" / "2.1.3" / "helmrelease.yaml").write_bytes(b"kind: \xff\xfe\n")


def _name_not_utf8(root: Path) -> None:
    folder = bytes(root / "applications" / "reloader" / "2.1.3")
    with open(folder + b"/\xff.yaml", "wb") as f:
        f.write(b"a: 1\n")


def _bad_metadata(root: Path) -> None:
    (root / "applications" / "reloader" / "metadata.yaml").write_text("scope: [galaxy]\n")


CASES: list[tuple[str, Any, str]] = [
    ("unknown app", lambda _: {"apps": {"nosuch": {}}}, r"kommander:apps\.nosuch: unknown application"),
    (
        "unknown app version",
        lambda _: {"apps": {"reloader": {"version": "0.0.1"}}},
        r"kommander:apps\.reloader\.version: '0\.0\.1' is not in the catalog",
    ),
    (
        "unknown cluster",
        lambda _: {"apps": {"reloader": {"clusters": ["nowhere"]}}},
        r"kommander:apps\.reloader\.clusters: unknown cluster 'nowhere'",
    ),
    ("unknown Flux version", lambda _: {"versions": {"flux": "9.9.9"}}, r"kommander:versions\.flux: '9\.9\.9'"),
    (
        "dependsOn cycle",
        lambda tmp: {
            "applicationsPath": _catalog_with(tmp, _cycle),
            "apps": {"reloader": {}, "external-dns": {}},
        },
        r"kommander:apps: the catalog's dependsOn form a cycle between external-dns, reloader",
    ),
    (
        "a file that is not UTF-8",
        lambda tmp: {"applicationsPath": _catalog_with(tmp, _not_utf8)},
        r"kommander:applicationsPath: applications/reloader/2\.1\.3/helmrelease\.yaml: not UTF-8",
    ),
    (
        "a file name that is not UTF-8",
        lambda tmp: {"applicationsPath": _catalog_with(tmp, _name_not_utf8)},
        r"kommander:applicationsPath: applications/reloader/2\.1\.3/.*\.yaml: a file name that is not UTF-8",
    ),
    (
        "bad metadata",
        lambda tmp: {"applicationsPath": _catalog_with(tmp, _bad_metadata)},
        r"kommander:applicationsPath: applications/reloader/metadata\.yaml: scope 'galaxy'",
    ),
]


@pytest.mark.parametrize(("case", "raw", "message"), CASES, ids=[c[0] for c in CASES])
def test_the_program_registers_nothing_before_a_config_error(
    case: str, raw: Any, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered: list[str] = []
    original = harness.RecordingMonitor.RegisterResource

    def counting(self: Any, request: Any) -> Any:
        if request.type != "pulumi:pulumi:Stack":
            registered.append(request.type)
        return original(self, request)

    monkeypatch.setattr(harness.RecordingMonitor, "RegisterResource", counting)
    config = {**stack_config("dev"), **raw(tmp_path)}
    with pytest.raises(ConfigError, match=message):
        harness.run(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=config, stack="dev")
    assert registered == [], f"{case}: {len(registered)} resources registered before the error"


@pytest.mark.parametrize(("case", "raw", "message"), CASES, ids=[c[0] for c in CASES])
def test_the_offline_check_finds_the_same_errors(case: str, raw: Any, message: str, tmp_path: Path) -> None:
    from automation import stackfile

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    settings = {**stack_config("dev"), **{f"kommander:{k}": v for k, v in raw(tmp_path).items()}}
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": settings}))
    with pytest.raises(ConfigError, match=message):
        stackfile.load(project, "dev")


def test_a_catalog_without_the_platforms_own_apps_still_builds(tmp_path: Path) -> None:
    """ChartMuseum, Gitea, Flux ... come from this project's catalog whatever the user's holds."""
    from components import config, stack_plan

    path = _catalog_with(tmp_path, lambda root: shutil.rmtree(root / "applications" / "chartmuseum"))
    plan = stack_plan.build(config.parse({"applicationsPath": path}))
    chartmuseum = next(p for p in plan.app_plans if p.app == "chartmuseum")
    assert chartmuseum.path.startswith("platform/chartmuseum/")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            # a catalog copied into a project namespace next to a source of the same name there
            {
                "workspaces": [{"name": "edge"}],
                "projects": [
                    {
                        "name": "shop",
                        "workspace": "edge",
                        "sources": [{"name": "web", "url": "https://git.example.com/web.git"}],
                    }
                ],
                "catalogs": [{"name": "web", "url": "https://git.example.com/catalog.git"}],
            },
            r"kommander:catalogs\[0\]: GitRepository shop/web is also made by kommander:projects\[0\]\.sources\[0\]",
        ),
    ],
)
def test_objects_two_parts_of_the_stack_would_both_name_are_a_keyed_error(raw: Any, message: str) -> None:
    from components import config, stack_plan

    with pytest.raises(ConfigError, match=message):
        stack_plan.build(config.parse(raw))


def test_a_platform_version_only_the_users_catalog_has_is_taken_from_it(tmp_path: Path) -> None:
    """kommander:versions may name a version of a platform app that only the user's catalog ships."""
    from components import config, stack_plan

    def newer(root: Path) -> None:
        old, new = root / "applications" / "chartmuseum" / "3.10.4", root / "applications" / "chartmuseum" / "3.10.5"
        shutil.copytree(old, new)
        for f in new.rglob("*.yaml"):
            f.write_text(f.read_text().replace("3.10.4", "3.10.5"))

    path = _catalog_with(tmp_path, newer)
    plan = stack_plan.build(config.parse({"applicationsPath": path, "versions": {"chartmuseum": "3.10.5"}}))
    chartmuseum = next(p for p in plan.app_plans if p.app == "chartmuseum")
    assert chartmuseum.path == "applications/chartmuseum/3.10.5"  # the user's tree, where it is published
    folder = plan.apps["chartmuseum"].folder
    assert folder is not None and folder.is_relative_to(Path(path).resolve()), folder  # read from the user's tree
    gitea = next(p for p in plan.app_plans if p.app == "gitea")
    assert gitea.path.startswith("platform/gitea/")  # the rest stays this project's


def test_a_platform_version_in_kommanders_own_layout_is_a_keyed_error() -> None:
    from schemas import shared

    from components import config, stack_plan

    tree = shared("catalogs", "kommander-applications-v2.2.0")
    with pytest.raises(ConfigError, match=r"^kommander:versions\.chartmuseum: services/chartmuseum/3\.6\.2 cannot be"):
        stack_plan.build(config.parse({"applicationsPath": str(tree), "versions": {"chartmuseum": "3.6.2"}}))
