"""Flux: controllers and CRDs from a pinned chart, tuned from config."""

from __future__ import annotations

import yaml
from schemas import shared

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
    assert values["logLevel"] == "debug"
    assert values["kustomizeController"]["container"]["additionalArgs"][0] == "--concurrent=7"
    assert "skipAwait" not in release.inputs or release.inputs["skipAwait"] is False


def test_tuning_uses_the_keys_the_flux2_chart_reads() -> None:
    """flux2 2.17.0's values.yaml: top-level ``logLevel`` and ``watchAllNamespaces``, and per
    controller ``container.additionalArgs`` (appended to the controller's arguments). Keys the
    chart does not have are ignored by Helm, and the tuning with them."""
    chart = yaml.safe_load(shared("charts", "flux2", "2.17.0", "values.yaml").read_text())
    settings = config.parse({"flux": {"concurrency": 7, "logLevel": "debug", "requeueDependency": "15s"}}).flux
    values = controller_values(settings)
    assert "logLevel" in chart and values["logLevel"] == "debug"
    assert "watchAllNamespaces" in chart and values["watchAllNamespaces"] is True
    for name in CONTROLLERS:
        assert chart[name]["container"]["additionalArgs"] == []
        args = values[name]["container"]["additionalArgs"]
        assert "--concurrent=7" in args
        if name != "sourceController":
            assert "--requeue-dependency=15s" in args


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
