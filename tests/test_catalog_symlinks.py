"""Symbolic links in a user's catalog (``kommander:applicationsPath``): one leading out of the catalog would publish
a file of this machine into Git, so the stack plan (before any resource) refuses it, naming the key and the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from components import config, repository_content, stack_plan

SECRET = b"password: hunter2-from-outside\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    (folder / "podinfo" / "6.5.0").mkdir(parents=True)
    (folder / "podinfo" / "6.5.0" / "kustomization.yaml").write_text("resources: []\n")
    (folder / "secret.yaml").write_bytes(SECRET)
    return folder


def catalog(root: Path) -> Path:
    version = root / "services" / "podinfo" / "6.5.0"
    version.mkdir(parents=True)
    (version / "kustomization.yaml").write_text("resources: [release.yaml]\n")
    (version / "release.yaml").write_text("kind: HelmRelease\n")
    (root / "services" / "podinfo" / "metadata.yaml").write_text("displayName: podinfo\n")
    return root


def link(path: Path, target: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


CASES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "file": (
        lambda r, o: link(r / "services/podinfo/6.5.0/x.yaml", o / "secret.yaml"),
        "services/podinfo/6.5.0/x.yaml",
    ),
    "folder": (lambda r, o: link(r / "services/podinfo/6.5.0/extra", o), "services/podinfo/6.5.0/extra"),
    "app": (lambda r, o: link(r / "services/other", o / "podinfo"), "services/other"),
    "metadata": (
        lambda r, o: link(r / "services/other/metadata.yaml", o / "secret.yaml"),
        "services/other/metadata.yaml",
    ),
    "common": (lambda r, o: link(r / "common", o), "common"),
    "common-file": (lambda r, o: link(r / "common/helm-repositories/x.yaml", o / "secret.yaml"), "common/"),
    "dangling": (
        lambda r, o: link(r / "services/podinfo/6.5.0/gone.yaml", o / "nothing"),
        "services/podinfo/6.5.0/gone.yaml",
    ),
    "relative": (
        lambda r, o: link(r / "services/podinfo/6.5.0/up.yaml", Path("../../../../outside/secret.yaml")),
        "up.yaml",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_symlink_out_of_the_catalog_is_a_keyed_error_before_any_resource(
    tmp_path: Path, outside: Path, case: str
) -> None:
    root = catalog(tmp_path / "checkout")
    make, shown = CASES[case]
    make(root, outside)
    cfg = config.parse({"applicationsPath": str(root)})
    with pytest.raises(config.ConfigError) as err:
        stack_plan.build(cfg)
    message = str(err.value)
    assert message.startswith("kommander:applicationsPath: ") and shown in message, message
    assert "symbolic link out of the catalog" in message and "hunter2" not in message


def test_the_layout_folder_itself_linked_out_of_the_catalog_is_refused(tmp_path: Path, outside: Path) -> None:
    """``services/`` -> a folder elsewhere that looks like a catalog: its files must not be published."""
    (outside / "secret.yaml").rename(outside / "podinfo" / "6.5.0" / "secret.yaml")
    root = tmp_path / "checkout"
    link(root / "services", outside)
    with pytest.raises(config.ConfigError, match=r"^kommander:applicationsPath: services: a symbolic link out"):
        stack_plan.build(config.parse({"applicationsPath": str(root)}))


def test_links_inside_the_catalog_are_published_as_their_content(tmp_path: Path) -> None:
    root = catalog(tmp_path / "checkout")
    link(root / "services/podinfo/6.5.0/same.yaml", Path("release.yaml"))
    plan = stack_plan.build(config.parse({"applicationsPath": str(root)}))
    files = repository_content.collect(plan.content)
    assert files["services/podinfo/6.5.0/same.yaml"] == b"kind: HelmRelease\n"
    assert not any(SECRET in data for data in files.values())
