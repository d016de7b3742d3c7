"""FluxConfiguration: Flux pointed at the management repository.

The ``substitution-vars`` ConfigMap (postBuild substitution variables, nothing secret),
the ``management`` GitRepository with its credentials Secret, and the
``apps-kommander`` Kustomization that applies the management cluster's path with SOPS
decryption (``sops-age``) and substitution from ``substitution-vars``. The commit the
ManagementRepository pushed is passed in as data: it is set as the objects'
``reconcile.fluxcd.io/requestedAt`` annotation, so Flux reconciles each new commit
at once, the objects are ordered after the content, and the provider waits until Flux
has handled that commit (:func:`components.k8s.wait_handled`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import config
from components.app_versions import SUBSTITUTION_VARS
from components.cert_manager import CA_NAME
from components.ingress import tls_secret_name
from components.k8s import WAIT_FOR_TERMINATION, Component, meta, object_name, wait_handled
from components.tenancy_plan import MANAGEMENT_SOURCE

VARS = SUBSTITUTION_VARS
REPOSITORY = MANAGEMENT_SOURCE
KUSTOMIZATION = "apps-kommander"
CREDENTIALS = "management-git-credentials"


@dataclass(frozen=True)
class FluxConfigurationArgs:
    namespace: pulumi.Input[str]
    """The Flux namespace (the GitRepository, Kustomization and ConfigMap live there)."""
    url: pulumi.Input[str]
    """The management repository's in-cluster URL."""
    branch: str
    path: str
    """The path the Kustomization applies (``./[prefix/]clusters/<cluster>``)."""
    username: pulumi.Input[str]
    password: pulumi.Input[str]
    revision: pulumi.Input[str]
    """The commit the content was published as (orders after the content, triggers a reconcile)."""
    decryption_secret: pulumi.Input[str]
    """Name of the Secret with the age private key (``sops-age``)."""
    variables: dict[str, str]
    """Substitution variables (see :func:`substitution_variables`)."""


def substitution_variables(cfg: config.StackConfig) -> dict[str, str]:
    """``substitution-vars``: what manifests in the repository may use as ``${name}`` (pure, nothing secret).

    The stack's names, and the stack-wide variables kommander-applications' manifests read
    (the root CA's issuer and Secret, the ingress certificate, whether charts come from a
    mirror). ``helmMirrorURL`` is present only when a mirror is configured, so
    ``${helmMirrorURL:=<upstream>}`` falls back to the upstream URL.
    """
    ns = cfg.namespaces
    out = {
        "clusterName": cfg.clusterName,
        "releaseNamespace": ns.kommander,
        "kommanderNamespace": ns.kommander,
        "fluxNamespace": ns.flux,
        "certManagerNamespace": ns.certManager,
        "domain": cfg.ingress.domain,
        "certificateIssuerName": CA_NAME,
        "certificatesIssuerName": CA_NAME,
        "certificatesCAIssuerName": CA_NAME,
        "caIssuerName": CA_NAME,
        "certificateIssuerKind": "ClusterIssuer",
        "caSecretName": CA_NAME,
        "caSecretNamespace": ns.certManager,
        "tlsCertificateSecret": tls_secret_name(cfg.ingress),
        "airgappedEnabled": "true" if cfg.helmMirrorUrl else "false",
    }
    if cfg.helmMirrorUrl:
        out["helmMirrorURL"] = cfg.helmMirrorUrl
    return out


class FluxConfiguration(Component):
    """``substitution-vars``, the ``management`` GitRepository and the ``apps-kommander`` Kustomization."""

    kustomization: k8s.apiextensions.CustomResource
    """The ``apps-kommander`` Kustomization (waits Ready)."""
    repository: k8s.apiextensions.CustomResource
    """The ``management`` GitRepository (waits Ready)."""

    def __init__(self, name: str, args: FluxConfigurationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:FluxConfiguration", name, opts)
        variables = k8s.core.v1.ConfigMap(
            f"{name}-vars", metadata=meta(VARS, args.namespace), data=args.variables, opts=self.child()
        )
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=meta(CREDENTIALS, args.namespace),
            type="Opaque",
            string_data={"username": args.username, "password": pulumi.Output.secret(args.password)},
            opts=self.child(),
        )
        requested = wait_handled(args.revision)
        self.repository = k8s.apiextensions.CustomResource(
            f"{name}-repository",
            api_version="source.toolkit.fluxcd.io/v1",
            kind="GitRepository",
            metadata=meta(REPOSITORY, args.namespace, annotations=requested),
            spec={
                "url": args.url,
                "ref": {"branch": args.branch},
                "interval": "1m",
                "timeout": "60s",
                "secretRef": {"name": credentials.metadata.apply(lambda m: str(m.name))},
            },
            opts=self.child(),
        )
        self.kustomization = k8s.apiextensions.CustomResource(
            f"{name}-kustomization",
            api_version="kustomize.toolkit.fluxcd.io/v1",
            kind="Kustomization",
            metadata=meta(KUSTOMIZATION, args.namespace, annotations=requested),
            spec={
                "interval": "10m",
                "retryInterval": "1m",
                "timeout": "5m",
                "path": args.path,
                "prune": True,
                "deletionPolicy": WAIT_FOR_TERMINATION,
                "wait": True,
                "sourceRef": {"kind": "GitRepository", "name": object_name(self.repository)},
                "decryption": {"provider": "sops", "secretRef": {"name": args.decryption_secret}},
                "postBuild": {
                    "substituteFrom": [{"kind": "ConfigMap", "name": variables.metadata.apply(lambda m: str(m.name))}]
                },
            },
            opts=self.child(),
        )
        self.register_outputs({})
