"""Each policy of the pack, called as pulumi-policy calls it, with bad and good resources."""

from __future__ import annotations

import runpy
from collections.abc import Callable, Mapping
from typing import Any

import pulumi_policy
import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

from policy import policies

Validate = Callable[[ResourceValidationArgs, Callable[[str, str | None], None]], None]


def args(
    type_: str,
    props: Mapping[str, Any],
    name: str = "res",
    stack: str = "prod",
    protect: bool = False,
    config: Mapping[str, Any] | None = None,
) -> ResourceValidationArgs:
    opts = PolicyResourceOptions(
        protect=protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )
    urn = f"urn:pulumi:{stack}::kommander::{type_}::{name}"
    return ResourceValidationArgs(type_, props, urn, name, opts, None, config)


def violations(validate: Validate, a: ResourceValidationArgs) -> list[str]:
    found: list[str] = []
    validate(a, lambda message, urn=None: found.append(message))
    return found


def k8s(kind: str, name: str, namespace: str | None = None, labels: dict[str, str] | None = None, **rest: Any) -> dict:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    return {"kind": kind, "metadata": meta, **rest}


HELMRELEASE = "kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease"
KUSTOMIZATION = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
RELEASE = "kubernetes:helm.sh/v3:Release"


def gitea_release(version: str = "12.4.0", namespace: str = "kommander") -> dict:
    chart = {"spec": {"chart": "gitea", "version": version, "sourceRef": {"kind": "HelmRepository", "name": "gitea"}}}
    return k8s("HelmRelease", "gitea", namespace, spec={"chart": chart, "interval": "10m"})


# --------------------------------------------------------------------------- stateful


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (HELMRELEASE, gitea_release()),
        (CERTIFICATE, k8s("Certificate", "kommander-ca", "cert-manager", spec={"isCA": True})),
        ("kubernetes:core/v1:Secret", k8s("Secret", "gitea-admin", "kommander", {policies.STATEFUL_LABEL: "true"})),
        (RELEASE, {"chart": "oci://registry.example.com/charts/chartmuseum", "version": "3.10.4"}),
        ("kubernetes:core/v1:PersistentVolumeClaim", k8s("PersistentVolumeClaim", "data", "kommander")),
        ("kubernetes:core/v1:Secret", k8s("Secret", "gitea-admin", "kommander")),
        ("kubernetes:core/v1:Secret", k8s("Secret", "sops-age", "kommander-flux")),
        ("random:index/randomPassword:RandomPassword", {"length": 32}),
    ],
)
def test_stateful_resources_must_be_protected_outside_dev(type_: str, props: dict) -> None:
    validate = policies.validate_stateful_protected
    assert len(violations(validate, args(type_, props, stack="prod"))) == 1
    assert "must be protected" in violations(validate, args(type_, props, stack="staging"))[0]
    assert violations(validate, args(type_, props, stack="prod", protect=True)) == []
    assert violations(validate, args(type_, props, stack="dev")) == []
    assert violations(validate, args(type_, props, stack="qa", config={"unprotectedStacks": ["qa"]})) == []


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (HELMRELEASE, {**gitea_release(), "spec": {"chart": {"spec": {"chart": "podinfo", "version": "6.0.0"}}}}),
        (CERTIFICATE, k8s("Certificate", "kommander-tls", "kommander", spec={"secretName": "kommander-tls"})),
        ("kubernetes:core/v1:Secret", k8s("Secret", "creds", "kommander", {policies.STATEFUL_LABEL: "false"})),
        ("kubernetes:core/v1:Secret", k8s("Secret", "prod-eu-1-kubeconfig", "retail")),  # copied from config
        ("kubernetes:core/v1:ConfigMap", k8s("ConfigMap", "substitution-vars", "kommander-flux")),
    ],
)
def test_stateless_resources_need_no_protect(type_: str, props: dict) -> None:
    assert violations(policies.validate_stateful_protected, args(type_, props, stack="prod")) == []


# --------------------------------------------------------------------------- configmaps


@pytest.mark.parametrize(
    "data",
    [
        {"adminPassword": "x"},
        {"GITEA_TOKEN": "x"},
        {"kubeconfig": "apiVersion: v1"},
        {"tls-private-key": "x"},
        {"api_key": "x"},
        {"credentials.json": "{}"},
        {"id_rsa": "x"},
        {"cluster.yaml": "users:\n- name: a\n  user:\n    client-key-data: LS0tLS1CRUdJTg=="},
        {"key.pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"},
        {"sops.txt": "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"},
        {"config.yaml": "server: x\ntoken: abcdef\n"},
    ],
)
def test_configmaps_with_secret_data_are_rejected(data: dict[str, str]) -> None:
    props = k8s("ConfigMap", "leaky", "kommander", data=data)
    found = violations(policies.validate_no_secrets_in_configmaps, args("kubernetes:core/v1:ConfigMap", props))
    assert len(found) == 1 and f"data.{next(iter(data))}" in found[0]


def test_binary_data_keys_are_checked_too() -> None:
    props = k8s("ConfigMap", "leaky", "kommander", binaryData={"client-key": "AAAA"})
    found = violations(policies.validate_no_secrets_in_configmaps, args("kubernetes:core/v1:ConfigMap", props))
    assert found and "binaryData.client-key" in found[0]


def test_ordinary_configmaps_pass() -> None:
    data = {
        "clusterName": "prod-mgmt",
        "tokenTTL": "1h",  # a word that merely starts like one
        "sopsSecretName": "sops-age",
        "values.yaml": "replicaCount: 2\nimage:\n  tag: 1.2.3\n",
        "ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    }
    props = k8s("ConfigMap", "substitution-vars", "kommander-flux", data=data)
    assert violations(policies.validate_no_secrets_in_configmaps, args("kubernetes:core/v1:ConfigMap", props)) == []
    # not a ConfigMap: not this policy's business
    secret = k8s("Secret", "s", "kommander", stringData={"password": "x"})
    assert violations(policies.validate_no_secrets_in_configmaps, args("kubernetes:core/v1:Secret", secret)) == []


# --------------------------------------------------------------------------- tenants


@pytest.mark.parametrize("type_", [HELMRELEASE, KUSTOMIZATION])
def test_tenant_flux_objects_need_a_service_account(type_: str) -> None:
    kind = type_.rsplit(":", 1)[-1]
    bad = k8s(kind, "storefront-stg-eu-1", "shop", spec={"interval": "1m", "path": "./deploy"})
    found = violations(policies.validate_tenant_service_account, args(type_, bad))
    assert found == [
        f"tenant {kind} res in namespace shop must set spec.serviceAccountName "
        "(tenants reconcile with their own service account, never the controller's)"
    ]
    no_namespace = k8s(kind, "x", spec={})
    assert "namespace default" in violations(policies.validate_tenant_service_account, args(type_, no_namespace))[0]
    good = k8s(kind, "storefront", "shop", spec={"serviceAccountName": "shop-reconciler"})
    assert violations(policies.validate_tenant_service_account, args(type_, good)) == []


def test_platform_flux_objects_and_other_kinds_are_exempt() -> None:
    for ns in ("kommander", "kommander-flux"):
        props = k8s("Kustomization", "apps-kommander", ns, spec={"path": "./"})
        assert violations(policies.validate_tenant_service_account, args(KUSTOMIZATION, props)) == []
    props = k8s("Kustomization", "apps", "platform", spec={})
    cfg = {"platformNamespaces": ["platform"]}
    assert violations(policies.validate_tenant_service_account, args(KUSTOMIZATION, props, config=cfg)) == []
    app = k8s("Kustomization", "reloader-eu-1", "retail", {policies.APPLICATION_LABEL: "reloader"}, spec={})
    assert violations(policies.validate_tenant_service_account, args(KUSTOMIZATION, app)) == []
    repo = k8s("GitRepository", "storefront", "shop", spec={})
    git = "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository"
    assert violations(policies.validate_tenant_service_account, args(git, repo)) == []


# --------------------------------------------------------------------------- pinned


@pytest.mark.parametrize("version", [None, "", "*", ">=12.0.0", "^12.4.0", "~12.4", "12.x", "latest", "1.0 - 2.0"])
def test_unpinned_chart_versions_are_rejected(version: str | None) -> None:
    props = gitea_release()
    props["spec"]["chart"]["spec"]["version"] = version
    assert (
        "spec.chart.spec.version must be one exact version"
        in violations(policies.validate_pinned_versions, args(HELMRELEASE, props))[0]
    )
    release = {"chart": "flux2", "version": version} if version is not None else {"chart": "flux2"}
    assert (
        "version must be one exact chart version"
        in violations(policies.validate_pinned_versions, args(RELEASE, release))[0]
    )


@pytest.mark.parametrize("version", ["12.4.0", "v1.19.1", "2.17.0-rc.1", "1.2"])
def test_exact_chart_versions_pass(version: str) -> None:
    assert violations(policies.validate_pinned_versions, args(HELMRELEASE, gitea_release(version))) == []
    assert violations(policies.validate_pinned_versions, args(RELEASE, {"chart": "x", "version": version})) == []


@pytest.mark.parametrize("image", ["nginx", "nginx:latest", "registry:5000/team/app", "ghcr.io/org/app:", ""])
def test_unpinned_images_are_rejected_wherever_the_pod_spec_is(image: str) -> None:
    deployment = k8s(
        "Deployment",
        "web",
        "shop",
        spec={"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27.2"}]}}},
    )
    deployment["spec"]["template"]["spec"]["initContainers"] = [{"name": "init", "image": image}]
    found = violations(policies.validate_pinned_versions, args("kubernetes:apps/v1:Deployment", deployment))
    assert len(found) == 1 and "container 'init'" in found[0]
    cron = k8s(
        "CronJob",
        "job",
        "shop",
        spec={"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}},
    )
    assert len(violations(policies.validate_pinned_versions, args("kubernetes:batch/v1:CronJob", cron))) == 1


@pytest.mark.parametrize(
    "image", ["nginx:1.27.2", "registry:5000/team/app:v3", "ghcr.io/org/app@sha256:" + "a" * 64, "app:latest@sha256:0"]
)
def test_pinned_images_pass(image: str) -> None:
    pod = k8s("Pod", "p", "shop", spec={"containers": [{"name": "c", "image": image}]})
    assert violations(policies.validate_pinned_versions, args("kubernetes:core/v1:Pod", pod)) == []


# --------------------------------------------------------------------------- services


def lb(name: str = "web", namespace: str = "shop", type_: str = "LoadBalancer") -> dict:
    return k8s("Service", name, namespace, spec={"type": type_, "ports": [{"port": 80}]})


def test_loadbalancer_services_are_rejected_unless_allowed() -> None:
    service = "kubernetes:core/v1:Service"
    assert violations(policies.validate_no_loadbalancer, args(service, lb())) == [
        "Service shop/web is of type LoadBalancer: expose it through the ingress, "
        "or allow it in the policy config (allowedLoadBalancers)"
    ]
    allowed = {"allowedLoadBalancers": ["kommander/traefik"]}
    assert (
        violations(policies.validate_no_loadbalancer, args(service, lb("traefik", "kommander"), config=allowed)) == []
    )
    assert violations(policies.validate_no_loadbalancer, args(service, lb(), config=allowed)) != []
    assert violations(policies.validate_no_loadbalancer, args(service, lb(), config={"allowLoadBalancers": True})) == []
    for kind in ("ClusterIP", "NodePort"):
        assert violations(policies.validate_no_loadbalancer, args(service, lb(type_=kind))) == []


# --------------------------------------------------------------------------- the pack


def test_pack_publishes_every_policy_mandatory(monkeypatch: pytest.MonkeyPatch) -> None:
    packs: list[dict[str, Any]] = []

    def capture(**kwargs: Any) -> None:
        packs.append(kwargs)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", capture)
    runpy.run_module("policy.__main__", run_name="__main__")
    assert len(packs) == 1 and packs[0]["name"] == "kommander"
    names = {p.name for p in packs[0]["policies"]}
    assert names == {
        "stateful-resources-protected",
        "no-secrets-in-configmaps",
        "tenant-service-account",
        "pinned-versions",
        "no-loadbalancer-services",
    }
    assert all(p.enforcement_level == pulumi_policy.EnforcementLevel.MANDATORY for p in packs[0]["policies"])


def test_policy_pack_files_pin_their_dependencies() -> None:
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parent.parent
    pack = yaml.safe_load((root / "policy" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["name"] == "python"
    reqs = [line for line in (root / "policy" / "requirements.txt").read_text().splitlines() if line[:1].isalpha()]
    assert reqs and all("==" in line for line in reqs)
    dev = (root / "requirements-dev.txt").read_text()
    assert "pulumi-policy==1.21.0" in dev and "pulumi-policy==1.21.0" in reqs
