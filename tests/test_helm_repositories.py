"""HelmRepositories: one Flux HelmRepository per catalog file, through the mirror, in the flux namespace."""

from __future__ import annotations

import pulumi
import pytest
from support import build, crd_installer

from components import catalog as cat
from components.config import Flux as FluxSettings
from components.flux import Flux, FluxArgs
from components.helm_repositories import HelmRepositories, HelmRepositoriesArgs

FILES = {p.stem: p for p in cat.helm_repository_files()}
TYPE = "kubernetes:source.toolkit.fluxcd.io/v1:HelmRepository"


def _build(mirror: str | None = None, ca: str | None = None):
    def fn() -> None:
        flux = Flux("flux", FluxArgs("kommander-flux", "2.17.0", FluxSettings()))
        repos = HelmRepositories(
            "repos",
            HelmRepositoriesArgs("kommander-flux", "kommander-flux", mirror, ca),
            opts=pulumi.ResourceOptions(depends_on=[flux]),
        )
        pulumi.export("names", repos.names)

    return fn


def test_one_repository_per_file_with_default_urls(program) -> None:
    graph = program(_build())
    component = graph.one("kommander:index:HelmRepositories", "repos")
    repos = graph.of_type(TYPE)
    assert {r.name for r in repos} == {f"repos-{key}" for key in FILES}
    assert graph.outputs["names"] == {key: key for key in FILES}
    flux = graph.one("kubernetes:helm.sh/v3:Release", "flux-controllers")
    for repo in repos:
        key = repo.name.removeprefix("repos-")
        default = FILES[key].read_text().split("${helmMirrorURL:=")[1].split("}")[0]
        assert repo.parent == component.urn
        assert repo.inputs["metadata"]["namespace"] == "kommander-flux"
        assert repo.inputs["spec"]["url"] == default
        assert "certSecretRef" not in repo.inputs["spec"]
        assert graph.depends_on(repo, flux), f"{repo.name} must wait for the Flux CRDs"


@pytest.mark.parametrize("mirror", ["https://charts.mirror.example.com", "oci://registry.example.com/charts"])
def test_mirror_replaces_every_url_and_ca_is_trusted(program, mirror: str) -> None:
    graph = program(_build(mirror, "mirror-ca"))
    repos = graph.of_type(TYPE)
    assert len(repos) == len(FILES)
    for repo in repos:
        spec = repo.inputs["spec"]
        assert spec["url"] == mirror, repo.name
        assert spec["certSecretRef"] == {"name": "mirror-ca"}
        assert (spec.get("type") == "oci") == mirror.startswith("oci://")


def test_empty_catalog_is_an_error(program, tmp_path) -> None:
    (tmp_path / "common" / "helm-repositories").mkdir(parents=True)

    def fn() -> None:
        HelmRepositories("repos", HelmRepositoriesArgs("f", "f", root=tmp_path))

    with pytest.raises(FileNotFoundError, match="no HelmRepository in"):
        program(fn)


def test_checkout_without_repositories_uses_the_project_ones(program, tmp_path) -> None:
    graph = program(lambda: HelmRepositories("repos", HelmRepositoriesArgs("f", "f", root=tmp_path)))
    assert len(graph.of_type(TYPE)) == len(FILES)


def test_wired_after_flux_and_before_gitea(program) -> None:
    graph = program(build({"helmMirrorUrl": "https://m.example.com", "helmMirrorCaSecret": "m-ca"}))
    repos = graph.of_type(TYPE)
    assert len(repos) == len(FILES)
    gitea = graph.one("kommander:index:Gitea")
    for repo in repos:
        assert graph.depends_on(repo, crd_installer(graph, "source.toolkit.fluxcd.io/v1"))
        assert repo.inputs["spec"]["url"] == "https://m.example.com"
        assert repo.inputs["spec"]["certSecretRef"] == {"name": "m-ca"}
    gitea_release = next(r for r in graph.children(gitea) if r.type.endswith(":HelmRelease"))
    assert graph.depends_on(gitea_release, graph.one("kommander:index:HelmRepositories"))


def test_ca_secret_config() -> None:
    from components import config

    assert config.parse({}).helmMirrorCaSecret is None
    assert config.parse({"helmMirrorCaSecret": ""}).helmMirrorCaSecret is None
    assert config.parse({"helmMirrorCaSecret": "mirror-ca"}).helmMirrorCaSecret == "mirror-ca"
    with pytest.raises(config.ConfigError, match=r"kommander:helmMirrorCaSecret: 'Bad_Name' is not a valid DNS-1123"):
        config.parse({"helmMirrorCaSecret": "Bad_Name"})
