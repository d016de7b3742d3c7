"""HelmRepositories: one Flux HelmRepository per catalog file, through the mirror, in the flux namespace."""

from __future__ import annotations

import pulumi
import pytest
from schemas import validate
from support import build, crd_installer

from components import catalog as cat
from components.config import Flux as FluxSettings
from components.flux import Flux, FluxArgs
from components.helm_repositories import HelmRepositories, HelmRepositoriesArgs, repository_objects

FILES = {p.stem: p for p in cat.helm_repository_files()}
TYPE = "kubernetes:source.toolkit.fluxcd.io/v1:HelmRepository"


def _build(mirror: str | None = None, ca: str | None = None):
    def fn() -> None:
        flux = Flux("flux", FluxArgs("kommander-flux", "2.17.0", FluxSettings()))
        repos = HelmRepositories(
            "repos",
            HelmRepositoriesArgs(
                "kommander-flux", repository_objects([cat.DEFAULT_ROOT], mirror, ca, "kommander-flux")
            ),
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


def test_a_checkout_adds_its_repositories_several_per_file_at_the_served_api(tmp_path) -> None:
    """kommander-applications 2.x: several HelmRepositories per file, at source.toolkit.fluxcd.io/v1beta1."""
    folder = tmp_path / "common" / "helm-repositories"
    folder.mkdir(parents=True)
    (folder / "kustomization.yaml").write_text("resources: [extra.yaml]\n")
    (folder / "extra.yaml").write_text(
        "---\napiVersion: source.toolkit.fluxcd.io/v1beta1\nkind: HelmRepository\n"
        "metadata: {name: one, namespace: kommander-flux}\n"
        'spec: {interval: 10m, url: "${helmMirrorURL:=https://one.example.com}"}\n'
        "---\napiVersion: source.toolkit.fluxcd.io/v1beta1\nkind: HelmRepository\n"
        "metadata: {name: two, namespace: kommander-flux}\nspec: {interval: 10m, url: https://two.example.com}\n"
    )
    found = repository_objects([cat.DEFAULT_ROOT, tmp_path], None, None, "kommander-flux")
    assert set(found) == set(FILES) | {"one", "two"}
    for name in ("one", "two"):
        validate(found[name])
        assert found[name]["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert found["one"]["spec"]["url"] == "https://one.example.com"


def test_a_repository_defined_twice_differently_is_an_error(tmp_path) -> None:
    folder = tmp_path / "common" / "helm-repositories"
    folder.mkdir(parents=True)
    (folder / "gitea.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
        "metadata: {name: gitea}\nspec: {interval: 10m, url: https://elsewhere.example.com}\n"
    )
    with pytest.raises(cat.CatalogError, match="HelmRepository 'gitea' differs from this project's"):
        repository_objects([cat.DEFAULT_ROOT, tmp_path], None, None, "kommander-flux")


def test_a_mirror_url_is_data_not_yaml() -> None:
    """The mirror URL is substituted into parsed values: it never adds fields to the objects."""
    crafted = 'https://m.example.com", insecure: true, x: "'
    for obj in repository_objects([cat.DEFAULT_ROOT], crafted, None, "kommander-flux").values():
        assert obj["spec"]["url"] == crafted and "insecure" not in obj["spec"]


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
