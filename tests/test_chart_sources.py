"""Where the controller charts Pulumi installs come from: upstream, a mirror (HTTP or OCI), or ``charts.<name>``.

Helm names an OCI chart by reference, ``oci://<registry>/<path>/<chart>`` with ``--version`` and no repository
(Helm's "Use OCI-based registries" guide: ``helm install myrelease oci://localhost:5000/helm-charts/mychart
--version 0.1.0``); ``--repo`` only takes a chart repository that serves ``index.yaml``. A local chart directory or
archive is installed as it is, by path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components import config
from components.cert_manager import CertManager, CertManagerArgs
from components.flux import Flux, FluxArgs


def _release(program, build) -> dict:
    return program(build).one("kubernetes:helm.sh/v3:Release").inputs


def test_upstream_repository_by_default(program) -> None:
    inputs = _release(program, lambda: Flux("f", FluxArgs("flux", "2.17.0", config.Flux())))
    assert inputs["chart"] == "flux2" and inputs["version"] == "2.17.0"
    assert inputs["repositoryOpts"] == {"repo": "https://fluxcd-community.github.io/helm-charts"}


def test_http_mirror_is_the_repository(program) -> None:
    inputs = _release(
        program, lambda: CertManager("c", CertManagerArgs("cert-manager", "v1.19.1", "https://charts.example.com"))
    )
    assert inputs["chart"] == "cert-manager" and inputs["repositoryOpts"] == {"repo": "https://charts.example.com"}


@pytest.mark.parametrize("mirror", ["oci://registry.example.com/charts", "oci://registry.example.com/charts/"])
def test_oci_mirror_names_the_chart_by_reference(program, mirror: str) -> None:
    flux = _release(program, lambda: Flux("f", FluxArgs("flux", "2.17.0", config.Flux(), mirror)))
    assert flux["chart"] == "oci://registry.example.com/charts/flux2" and flux["version"] == "2.17.0"
    assert "repositoryOpts" not in flux
    cm = _release(program, lambda: CertManager("c", CertManagerArgs("cert-manager", "v1.19.1", mirror)))
    assert cm["chart"] == "oci://registry.example.com/charts/cert-manager" and "repositoryOpts" not in cm


def test_local_chart_is_installed_by_path(program, tmp_path: Path) -> None:
    chart = tmp_path / "flux2"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: flux2\nversion: 2.17.0\n")
    inputs = _release(
        program, lambda: Flux("f", FluxArgs("flux", "2.17.0", config.Flux(), "https://mirror", str(chart)))
    )
    assert inputs["chart"] == str(chart)
    assert "repositoryOpts" not in inputs and "version" not in inputs


def test_chart_repository_override_beats_the_mirror(program) -> None:
    inputs = _release(
        program,
        lambda: CertManager(
            "c", CertManagerArgs("cert-manager", "v1.19.1", "https://mirror", "https://jetstack.local")
        ),
    )
    assert inputs["repositoryOpts"] == {"repo": "https://jetstack.local"} and inputs["chart"] == "cert-manager"


def test_charts_config_accepts_directories_archives_and_urls(tmp_path: Path) -> None:
    chart = tmp_path / "cm"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("name: cert-manager\n")
    archive = tmp_path / "flux2-2.17.0.tgz"
    archive.write_bytes(b"")
    cfg = config.parse({"charts": {"flux": str(archive), "certManager": str(chart)}})
    assert cfg.charts.flux == str(archive) and cfg.charts.certManager == str(chart)
    assert config.parse({"charts": {"flux": "oci://r.example.com/c"}}).charts.flux == "oci://r.example.com/c"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/nonexistent/flux2", "neither a repository URL"),
        ("ftp://charts.example.com", "neither a repository URL"),
        ("https://user:pw@charts.example.com", "must not carry credentials"),
    ],
)
def test_bad_chart_source_names_the_key(value: str, message: str) -> None:
    with pytest.raises(config.ConfigError) as err:
        config.parse({"charts": {"flux": value}})
    assert str(err.value).startswith("kommander:charts.flux:") and message in str(err.value)
    assert "pw" not in str(err.value)


def test_chart_directory_without_chart_yaml_or_not_an_archive(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match=r"kommander:charts.certManager: .*without Chart.yaml"):
        config.parse({"charts": {"certManager": str(tmp_path)}})
    other = tmp_path / "chart.zip"
    other.write_bytes(b"")
    with pytest.raises(config.ConfigError, match=r"kommander:charts.flux: .*not a chart archive"):
        config.parse({"charts": {"flux": str(other)}})


def test_unknown_chart_name_is_rejected() -> None:
    with pytest.raises(config.ConfigError, match=r"kommander:charts.gitea"):
        config.parse({"charts": {"gitea": "https://charts.example.com"}})


PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_mirror_ca_file_reaches_the_controller_releases(program, tmp_path: Path) -> None:
    """Helm's ``--ca-file`` (RepositoryOpts.caFile) is how the Helm client trusts a mirror with a private CA; the
    in-cluster ``helmMirrorCaSecret`` is read by Flux only, never by the Helm client Pulumi runs."""
    ca = tmp_path / "mirror-ca.pem"
    ca.write_text(PEM)
    cfg = config.parse({"helmMirrorUrl": "https://charts.mirror.example.com", "helmMirrorCaFile": str(ca)})
    assert cfg.helmMirrorCaFile == ca

    from components import stack_plan
    from components.management_cluster import ManagementCluster

    graph = program(lambda: ManagementCluster("kommander", stack_plan.build(cfg)))
    releases = graph.of_type("kubernetes:helm.sh/v3:Release")
    assert len(releases) == 2
    for release in releases:
        assert release.inputs["repositoryOpts"] == {
            "repo": "https://charts.mirror.example.com",
            "caFile": str(ca.resolve()),
        }


def test_ca_file_is_not_applied_to_the_public_upstream(program, tmp_path: Path) -> None:
    inputs = _release(
        program, lambda: Flux("f", FluxArgs("flux", "2.17.0", config.Flux(), None, None, str(tmp_path / "ca.pem")))
    )
    assert inputs["repositoryOpts"] == {"repo": "https://fluxcd-community.github.io/helm-charts"}


def test_bad_ca_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match=r"^kommander:helmMirrorCaFile: .*cannot be read"):
        config.parse({"helmMirrorCaFile": str(tmp_path / "missing.pem")})
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("hello")
    with pytest.raises(config.ConfigError, match=r"^kommander:helmMirrorCaFile: .*no PEM certificate"):
        config.parse({"helmMirrorCaFile": str(not_pem)})
    assert config.parse({"helmMirrorCaFile": ""}).helmMirrorCaFile is None
