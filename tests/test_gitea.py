"""Gitea: random admin credentials in a Secret, a Flux HelmRelease that waits Ready, how the program reaches it."""

from __future__ import annotations

import pytest
import yaml
from harness import is_secret, resolve, run

from components import config
from components.gitea import (
    ADMIN_SECRET,
    Gitea,
    GiteaArgs,
    chart_values,
    credentials_marker,
    endpoint,
    in_cluster_url,
)


def _build(settings: config.Gitea | None = None, protect: bool = False, made: list | None = None):
    def fn() -> None:
        g = Gitea(
            "gitea", GiteaArgs("kommander", "kommander-flux", "12.4.0", settings or config.Gitea(), protect=protect)
        )
        if made is not None:
            made.append(g)

    return fn


def test_helm_release_from_the_helm_repository_waits_ready(program) -> None:
    graph = program(_build())
    release = graph.one("kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease")
    assert release.parent == graph.one("kommander:index:Gitea").urn
    assert release.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    chart = release.inputs["spec"]["chart"]["spec"]
    assert chart == {
        "chart": "gitea",
        "version": "12.4.0",
        "sourceRef": {"kind": "HelmRepository", "name": "gitea", "namespace": "kommander-flux"},
    }
    values = release.inputs["spec"]["values"]
    assert values["gitea"]["admin"]["existingSecret"] == ADMIN_SECRET
    assert values["persistence"]["size"] == "10Gi" and values["persistence"]["enabled"] is True
    assert values["service"]["http"]["type"] == "ClusterIP"
    assert values["gitea"]["config"]["repository"]["ENABLE_PUSH_CREATE_USER"] is True
    secret = graph.one("kubernetes:core/v1:Secret", "gitea-admin")
    assert graph.depends_on(release, secret)
    # a fingerprint (not the password) restarts Gitea when the password rotates; the values stay non-secret
    password = secret.inputs["stringData"]["password"]
    marker = values["gitea"]["podAnnotations"]["kommander.d2iq.io/admin-credentials"]
    assert marker == credentials_marker("kommander-admin", password) and password not in str(values)
    assert marker != credentials_marker("kommander-admin", password + "x")
    assert not any(p.startswith("spec") for p in release.secret_paths)


def test_rotation_marker_is_where_the_chart_reads_pod_annotations() -> None:
    """The marker must land on the Gitea pod, or a rotated password never reaches Gitea.

    Gitea's chart is not in ../shared/charts; its documented key is ``gitea.podAnnotations``
    (gitea-charts 12.x: ``values.yaml`` declares ``gitea.podAnnotations: {}`` and the
    Deployment template renders ``.Values.gitea.podAnnotations`` into the pod template's
    annotations). A top-level ``podAnnotations`` is not read by any template.
    """
    values = chart_values(config.Gitea(), "kommander", False, credentials_marker("kommander-admin", "pw"))
    assert values["gitea"]["podAnnotations"] == {
        "kommander.d2iq.io/admin-credentials": credentials_marker("kommander-admin", "pw")
    }
    assert "podAnnotations" not in values


def test_admin_credentials_are_random_and_secret(program) -> None:
    graph = program(_build())
    password = graph.one("random:index/randomPassword:RandomPassword")
    assert password.inputs["length"] >= 24
    secret = graph.one("kubernetes:core/v1:Secret", "gitea-admin")
    assert secret.inputs["metadata"] == {
        "annotations": {"pulumi.com/patchForce": "true"},
        "name": ADMIN_SECRET,
        "namespace": "kommander",
        "labels": {"app.kubernetes.io/managed-by": "kommander-pulumi"},
    }
    assert secret.inputs["stringData"]["username"] == "kommander-admin"
    assert secret.inputs["stringData"]["password"].startswith("mock-password-gitea-admin-password")
    assert "stringData" in secret.secret_paths or "stringData.password" in secret.secret_paths


def test_node_port_storage_and_protect(program) -> None:
    graph = program(_build(config.Gitea(nodePort=30080, storageSize="20Gi"), protect=True))
    release = graph.one("kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease")
    values = release.inputs["spec"]["values"]
    assert values["service"]["http"] == {"type": "NodePort", "port": 3000, "nodePort": 30080}
    assert values["persistence"]["size"] == "20Gi"
    assert values["persistence"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert {r.name for r in graph if r.protect} == {"gitea-release", "gitea-admin", "gitea-admin-password"}


#: The Gitea chart's default for the PVC's annotations (gitea-charts 12.x ``values.yaml``:
#: ``persistence.annotations: {helm.sh/resource-policy: keep}``; the chart is not in ../shared).
CHART_PERSISTENCE = {"annotations": {"helm.sh/resource-policy": "keep"}}


def configmap(graph, namespace: str, name: str):
    (found,) = [
        r
        for r in graph.of_type("kubernetes:core/v1:ConfigMap")
        if (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) == (namespace, name)
    ]
    return found


def flux_merge(base: dict, top: dict) -> dict:
    """helm-controller's merge of values (``MergeMaps``): nested maps merge, anything else is replaced."""
    out = dict(base)
    for key, value in top.items():
        both_maps = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = flux_merge(out[key], value) if both_maps else value
    return out


def helm_values(graph, release) -> dict:
    """The values helm-controller hands Helm: each ``valuesFrom`` in order, then ``spec.values``
    (Flux's HelmRelease docs, "Values references": later ones win)."""
    spec, namespace = release.inputs["spec"], release.inputs["metadata"]["namespace"]
    merged: dict = {}
    for ref in spec.get("valuesFrom") or []:
        assert ref["kind"] == "ConfigMap"
        text = configmap(graph, namespace, ref["name"]).inputs["data"][ref.get("valuesKey", "values.yaml")]
        merged = flux_merge(merged, yaml.safe_load(text) or {})
    return flux_merge(merged, spec.get("values") or {})


def helm_coalesce(user: dict, defaults: dict) -> dict:
    """Helm's merge of user values over a chart's defaults: maps merge, and a key set to null
    deletes the default (Helm docs, "Deleting a Default Key")."""
    out = dict(defaults)
    for key, value in user.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = helm_coalesce(value, out[key])
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("protect", [False, True])
def test_volume_kept_on_uninstall_exactly_with_protect(program, protect: bool) -> None:
    """Helm keeps a resource annotated ``helm.sh/resource-policy: keep`` on uninstall, and the
    chart annotates its PVC so by default. An empty ``persistence.annotations`` overrides
    nothing (Helm merges maps); only a null deletes the default key. A null inside the
    HelmRelease's ``spec.values`` does not survive being applied (the recorded inputs, like
    the Kubernetes provider, drop it: pulumi-kubernetes#2997), so it must reach helm-controller
    as YAML text, through ``valuesFrom``."""
    graph = program(_build(protect=protect))
    release = graph.one("kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease")
    persistence = helm_coalesce(helm_values(graph, release), {"persistence": CHART_PERSISTENCE})["persistence"]
    assert persistence["annotations"].get("helm.sh/resource-policy") == ("keep" if protect else None)
    namespace = release.inputs["metadata"]["namespace"]
    for ref in release.inputs["spec"].get("valuesFrom") or []:
        assert not ref.get("optional") and graph.depends_on(release, configmap(graph, namespace, ref["name"]))


IN_CLUSTER = "http://gitea-http.kommander.svc.cluster.local:3000"


@pytest.mark.parametrize(
    ("settings", "url", "forwarded"),
    [
        (config.Gitea(externalUrl="https://git.example.com/"), "https://git.example.com", False),
        # nodePort only exposes the Service; the publisher port-forwards (it used to push to http://127.0.0.1:30080)
        (config.Gitea(nodePort=30080), IN_CLUSTER, True),
        (config.Gitea(), IN_CLUSTER, True),
    ],
)
def test_where_the_publisher_reaches_gitea(settings: config.Gitea, url: str, forwarded: bool) -> None:
    """``externalUrl`` as it is; otherwise the port the chart's HTTP Service listens on, through the API server."""
    chosen = endpoint(settings, "kommander")
    assert chosen.url == url
    service_port = chart_values(settings, "kommander", False)["service"]["http"]["port"]
    # the chart names its HTTP Service <release>-http; the release is `gitea`
    expected = {"namespace": "kommander", "name": "gitea-http", "port": service_port} if forwarded else None
    assert chosen.forward == expected
    made: list[Gitea] = []
    run(_build(settings, made=made))
    g = made[0]
    assert resolve(g.url) == url
    assert (resolve(g.forward) if g.forward is not None else None) == expected
    assert resolve(g.repository_url) == f"{url}/kommander-admin/kommander.git"
    assert resolve(g.in_cluster_url) == in_cluster_url("kommander") == IN_CLUSTER
    assert resolve(g.admin_username) == "kommander-admin"
    assert is_secret(g.admin_password) and not is_secret(g.url)


def test_chart_values_root_url_follows_external_url() -> None:
    values = chart_values(config.Gitea(externalUrl="https://git.example.com"), "kommander", False)
    assert values["gitea"]["config"]["server"]["ROOT_URL"] == "https://git.example.com/"
    assert values["persistence"]["annotations"] == {"helm.sh/resource-policy": None}, "deletes the chart's keep"


def test_bad_gitea_config_is_named() -> None:
    with pytest.raises(
        config.ConfigError, match=r"kommander:gitea.nodePort: input should be greater than or equal to 30000"
    ):
        config.parse({"gitea": {"nodePort": 80}})
    with pytest.raises(config.ConfigError, match=r"kommander:gitea.externalUrl: 'git.example.com' is not a valid http"):
        config.parse({"gitea": {"externalUrl": "git.example.com"}})
