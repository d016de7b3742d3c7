"""Flux: controllers and CRDs from a pinned chart, tuned from config."""

from __future__ import annotations

from components import config
from components.flux import CONTROLLERS, Flux, FluxArgs, controller_values


def test_flux_release_pinned_and_tuned(program) -> None:
    settings = config.parse({"flux": {"concurrency": 7, "logLevel": "debug"}}).flux
    graph = program(lambda: Flux("flux", FluxArgs("kommander-flux", "2.17.0", settings)))
    release = graph.one("kubernetes:helm.sh/v3:Release")
    assert release.parent == graph.one("kommander:index:Flux").urn
    assert release.inputs["chart"] == "flux2"
    assert release.inputs["version"] == "2.17.0"
    assert release.inputs["namespace"] == "kommander-flux"
    assert release.inputs["repositoryOpts"]["repo"] == "https://fluxcd-community.github.io/helm-charts"
    values = release.inputs["values"]
    assert values["installCRDs"] is True
    assert values["loglevel"] == "debug"
    assert values["kustomizeController"]["container"]["additionalargs"][0] == "--concurrent=7"
    assert "skipAwait" not in release.inputs or release.inputs["skipAwait"] is False


def test_mirror_replaces_chart_repository(program) -> None:
    settings = config.parse({}).flux
    graph = program(lambda: Flux("flux", FluxArgs("f", "2.17.0", settings, "https://mirror.example.com/charts")))
    assert graph.one("kubernetes:helm.sh/v3:Release").inputs["repositoryOpts"]["repo"] == (
        "https://mirror.example.com/charts"
    )


def test_controller_values_resources_from_config() -> None:
    settings = config.parse({"flux": {"resources": {"requests": {"cpu": "10m"}, "limits": {"memory": "2Gi"}}}}).flux
    values = controller_values(settings)
    for name in CONTROLLERS:
        assert values[name]["resources"] == {"requests": {"cpu": "10m"}, "limits": {"memory": "2Gi"}}
    assert values["notificationController"] == {"create": False}
