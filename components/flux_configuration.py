"""FluxConfiguration: Flux pointed at the management repository.

The ``kommander-vars`` ConfigMap (postBuild substitution variables, nothing secret),
the ``management`` GitRepository with its credentials Secret, and the
``apps-kommander`` Kustomization that applies the management cluster's path with SOPS
decryption (``sops-age``) and substitution from ``kommander-vars``. The commit the
ManagementRepository pushed is passed in as data: it is set as the objects'
``reconcile.fluxcd.io/requestedAt`` annotation, so Flux reconciles each new commit
at once and the objects are ordered after the content.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.k8s import WAIT_FOR_TERMINATION, WAIT_READY, Component, meta, object_name

VARS = "kommander-vars"
REPOSITORY = "management"
KUSTOMIZATION = "apps-kommander"
CREDENTIALS = "management-git-credentials"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


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


def substitution_variables(
    cluster_name: str,
    kommander_namespace: str,
    flux_namespace: str,
    cert_manager_namespace: str,
    domain: str,
    helm_mirror_url: str | None,
) -> dict[str, str]:
    """``kommander-vars``: what manifests in the repository may use as ``${name}`` (pure, nothing secret).

    ``helmMirrorURL`` is present only when a mirror is configured, so
    ``${helmMirrorURL:=<upstream>}`` falls back to the upstream URL.
    """
    out = {
        "clusterName": cluster_name,
        "releaseNamespace": kommander_namespace,
        "kommanderNamespace": kommander_namespace,
        "fluxNamespace": flux_namespace,
        "certManagerNamespace": cert_manager_namespace,
        "domain": domain,
    }
    if helm_mirror_url:
        out["helmMirrorURL"] = helm_mirror_url
    return out


class FluxConfiguration(Component):
    """``kommander-vars``, the ``management`` GitRepository and the ``apps-kommander`` Kustomization."""

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
        requested = {**WAIT_READY, REQUESTED_AT: args.revision}
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
