"""The kommander policy pack's rules, as plain validate functions plus their Policy objects.

Each ``validate_*`` takes ``(args, report_violation)`` exactly as pulumi-policy calls it,
so tests call them directly with constructed ``ResourceValidationArgs``.

Rules
-----
``stateful-resources-protected``
    Outside the stacks in ``unprotectedStacks`` (default ``["dev"]``) a stateful
    resource must have ``protect``. Stateful is decided by one rule:

    * any Kubernetes object labelled ``kommander.d2iq.io/stateful: "true"`` (the
      marker components put on what holds data: generated-credential Secrets,
      PVC-holding releases); and, so that nothing slips when a label is forgotten,
    * by type and name: the ``kommander-ca`` cert-manager Certificate, a Flux
      HelmRelease or ``helm.sh/v3`` Release of a chart in ``statefulCharts``
      (default ``gitea``, ``chartmuseum``: both keep data on a PVC), a
      PersistentVolumeClaim, the Secrets holding generated credentials named in
      ``statefulSecrets`` (default ``gitea-admin``, ``sops-age``), and every
      ``random`` RandomPassword (replacing one changes a live password).
``no-secrets-in-configmaps``
    A ConfigMap has no key that names secret material (password, token,
    kubeconfig, credentials, private/secret/api/client key) and no value holding a
    private key block, an age secret key or a kubeconfig with user credentials.
``tenant-service-account``
    A tenant's Flux Kustomization or HelmRelease sets ``spec.serviceAccountName``.
    Tenant: outside the platform namespaces (``platformNamespaces``, default
    ``kommander``, ``kommander-flux``) and not a platform application deployment
    (labelled ``kommander.d2iq.io/application``: the platform's AppDeployments, which
    reach attached clusters through their kubeconfig Secret, not as a tenant).
``pinned-versions``
    A HelmRelease's ``spec.chart.spec.version`` and a ``helm.sh/v3`` Release's
    ``version`` are set to one exact version (no range, wildcard or ``latest``);
    every container image carries a tag other than ``latest`` or a digest.
``no-loadbalancer-services``
    No Service of type LoadBalancer unless ``allowLoadBalancers`` is true or the
    Service's ``namespace/name`` is in ``allowedLoadBalancers``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

STATEFUL_LABEL = "kommander.d2iq.io/stateful"
APPLICATION_LABEL = "kommander.d2iq.io/application"
CA_CERTIFICATE = "kommander-ca"
DEFAULTS: dict[str, Any] = {
    "unprotectedStacks": ["dev"],
    "statefulCharts": ["gitea", "chartmuseum"],
    "statefulSecrets": ["gitea-admin", "sops-age"],
    "platformNamespaces": ["kommander", "kommander-flux"],
    "allowLoadBalancers": False,
    "allowedLoadBalancers": [],
}

_FLUX_TENANT_KIND = re.compile(r"^kubernetes:(kustomize|helm)\.toolkit\.fluxcd\.io/[^:]+:(Kustomization|HelmRelease)$")
_HELMRELEASE = re.compile(r"^kubernetes:helm\.toolkit\.fluxcd\.io/[^:]+:HelmRelease$")
_CERTIFICATE = re.compile(r"^kubernetes:cert-manager\.io/[^:]+:Certificate$")
_HELM_V3_RELEASE = "kubernetes:helm.sh/v3:Release"
_EXACT_VERSION = re.compile(r"^v?[0-9]+(\.[0-9]+){0,2}([-+][0-9A-Za-z.+-]+)?$")
_SECRET_WORDS = {"password", "passwd", "passphrase", "token", "kubeconfig", "credentials", "credential"}
_SECRET_PAIRS = {("private", "key"), ("secret", "key"), ("api", "key"), ("client", "key"), ("access", "key")}
_SECRET_VALUE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AGE-SECRET-KEY-1|client-key-data:|client-certificate-data:|"
    r"^\s*(token|password):\s*\S",
    re.MULTILINE,
)


def _config(args: ResourceValidationArgs) -> dict[str, Any]:
    return {**DEFAULTS, **dict(args.get_config() or {})}


def stack_of(urn: str) -> str:
    """The stack of a URN (``urn:pulumi:<stack>::<project>::<type>::<name>``)."""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")


def _metadata(props: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = props.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


# --------------------------------------------------------------------------- stateful


def is_stateful(
    resource_type: str, props: Mapping[str, Any], stateful_charts: list[str], stateful_secrets: list[str]
) -> bool:
    """The one rule for "holds state" (see the module doc)."""
    labels = _metadata(props).get("labels")
    if isinstance(labels, Mapping) and str(labels.get(STATEFUL_LABEL, "")).lower() == "true":
        return True
    if resource_type == "kubernetes:core/v1:Secret":
        return _metadata(props).get("name") in stateful_secrets
    if resource_type == "random:index/randomPassword:RandomPassword":
        return True
    if _CERTIFICATE.match(resource_type):
        return _metadata(props).get("name") == CA_CERTIFICATE or _get(props, "spec", "secretName") == CA_CERTIFICATE
    if _HELMRELEASE.match(resource_type):
        return _get(props, "spec", "chart", "spec", "chart") in stateful_charts
    if resource_type == _HELM_V3_RELEASE:
        return str(props.get("chart") or "").rstrip("/").rsplit("/", 1)[-1] in stateful_charts
    return resource_type == "kubernetes:core/v1:PersistentVolumeClaim"


def validate_stateful_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    cfg = _config(args)
    if stack_of(args.urn) in cfg["unprotectedStacks"] or args.opts.protect:
        return
    if is_stateful(args.resource_type, args.props, list(cfg["statefulCharts"]), list(cfg["statefulSecrets"])):
        report_violation(
            f"{args.name} ({args.resource_type}) holds state and must be protected outside "
            f"{', '.join(cfg['unprotectedStacks'])} (the program sets protect from kommander:protect)",
            None,
        )


# --------------------------------------------------------------------------- configmaps


def _words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def secret_key(key: str) -> bool:
    """True when a ConfigMap key names secret material: its last word (or last two) say so.

    ``adminPassword``, ``GITEA_TOKEN``, ``api_key``, ``tls-private-key``, ``credentials.json``
    and ``id_rsa`` do; ``tokenTTL`` or ``sopsSecretName`` (words that merely mention one) do not.
    """
    if key.lower() in ("id_rsa", "id_ed25519", "id_ecdsa"):
        return True
    words = _words(re.sub(r"\.(json|ya?ml|txt|conf|cfg|env|ini)$", "", key, flags=re.IGNORECASE))
    if not words:
        return False
    return words[-1] in _SECRET_WORDS or tuple(words[-2:]) in _SECRET_PAIRS


def secret_value(value: Any) -> bool:
    """True when a value holds a private key, an age secret key or kubeconfig credentials."""
    return isinstance(value, str) and bool(_SECRET_VALUE.search(value))


def validate_no_secrets_in_configmaps(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != "kubernetes:core/v1:ConfigMap":
        return
    found: list[str] = []
    for field in ("data", "binaryData"):
        data = args.props.get(field)
        if not isinstance(data, Mapping):
            continue
        for key, value in data.items():
            if secret_key(str(key)) or secret_value(value):
                found.append(f"{field}.{key}")
    if found:
        report_violation(
            f"ConfigMap {args.name} looks like it holds secret data in {', '.join(sorted(found))}: use a Secret",
            None,
        )


# --------------------------------------------------------------------------- tenants


def validate_tenant_service_account(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not _FLUX_TENANT_KIND.match(args.resource_type):
        return
    meta = _metadata(args.props)
    namespace = meta.get("namespace") or "default"
    if namespace in _config(args)["platformNamespaces"]:
        return
    labels = meta.get("labels")
    if isinstance(labels, Mapping) and labels.get(APPLICATION_LABEL):
        return
    if not _get(args.props, "spec", "serviceAccountName"):
        kind = args.resource_type.rsplit(":", 1)[-1]
        report_violation(
            f"tenant {kind} {args.name} in namespace {namespace} must set spec.serviceAccountName "
            "(tenants reconcile with their own service account, never the controller's)",
            None,
        )


# --------------------------------------------------------------------------- pinned


def exact_version(value: Any) -> bool:
    """A single pinned version: ``1.2.3``, ``v1.2.3``, ``1.2.3-rc.1`` (no ranges, wildcards, ``latest``)."""
    return isinstance(value, str) and bool(_EXACT_VERSION.match(value.strip()))


def image_pinned(image: Any) -> bool:
    """An image with a digest, or a tag that is not ``latest``."""
    if not isinstance(image, str) or not image:
        return False
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] not in ("", "latest")


def _containers(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every container spec anywhere in a workload (Pod, Deployment, CronJob, ...)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, Mapping))
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def validate_pinned_versions(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if _HELMRELEASE.match(args.resource_type) and _get(args.props, "spec", "chart") is not None:
        chart_version = _get(args.props, "spec", "chart", "spec", "version")
        if not exact_version(chart_version):
            report_violation(
                f"HelmRelease {args.name}: spec.chart.spec.version must be one exact version, got {chart_version!r}",
                None,
            )
    if args.resource_type == _HELM_V3_RELEASE and not exact_version(args.props.get("version")):
        report_violation(
            f"Release {args.name}: version must be one exact chart version, got {args.props.get('version')!r}", None
        )
    if args.resource_type.startswith("kubernetes:"):
        for container in _containers(args.props.get("spec")):
            if not image_pinned(container.get("image")):
                report_violation(
                    f"{args.name}: container {container.get('name')!r} image {container.get('image')!r} "
                    "must be pinned to a tag other than 'latest' or a digest",
                    None,
                )


# --------------------------------------------------------------------------- services


def validate_no_loadbalancer(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != "kubernetes:core/v1:Service" or _get(args.props, "spec", "type") != "LoadBalancer":
        return
    cfg = _config(args)
    meta = _metadata(args.props)
    ref = f"{meta.get('namespace') or 'default'}/{meta.get('name') or args.name}"
    if cfg["allowLoadBalancers"] or ref in cfg["allowedLoadBalancers"]:
        return
    report_violation(
        f"Service {ref} is of type LoadBalancer: expose it through the ingress, or allow it in the policy config "
        "(allowedLoadBalancers)",
        None,
    )


_STRINGS = {"type": "array", "items": {"type": "string"}}

POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name="stateful-resources-protected",
        description="Stateful resources (Gitea, the kommander-ca Certificate, generated credentials) are protected.",
        validate=validate_stateful_protected,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={"unprotectedStacks": _STRINGS, "statefulCharts": _STRINGS, "statefulSecrets": _STRINGS},
        ),
    ),
    ResourceValidationPolicy(
        name="no-secrets-in-configmaps",
        description="ConfigMaps hold no passwords, tokens, kubeconfigs or private keys.",
        validate=validate_no_secrets_in_configmaps,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="tenant-service-account",
        description="Tenant Flux Kustomizations and HelmReleases run as their own service account.",
        validate=validate_tenant_service_account,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(properties={"platformNamespaces": _STRINGS}),
    ),
    ResourceValidationPolicy(
        name="pinned-versions",
        description="Charts and images are pinned to exact versions (no ranges, no 'latest').",
        validate=validate_pinned_versions,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="no-loadbalancer-services",
        description="No LoadBalancer Services unless the policy config allows them.",
        validate=validate_no_loadbalancer,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={"allowLoadBalancers": {"type": "boolean"}, "allowedLoadBalancers": _STRINGS},
        ),
    ),
]
