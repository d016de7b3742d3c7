"""CertManager and RootCA: cert-manager, then the platform's self-signed root CA."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.k8s import WAIT_READY, Component, meta, object_name, platform_release

CHART_REPO = "https://charts.jetstack.io"
CRD_GROUPS = ("cert-manager.io", "acme.cert-manager.io")
CA_NAME = "kommander-ca"
SELF_SIGNED_ISSUER = "kommander-selfsigned"


@dataclass(frozen=True)
class CertManagerArgs:
    namespace: pulumi.Input[str]
    version: str
    helm_mirror_url: str | None = None
    chart_source: str | None = None
    """``charts.<name>``: a local chart or a repository URL instead of the upstream one."""
    ca_file: str | None = None
    """``helmMirrorCaFile``: a CA bundle the Helm client trusts for the mirror."""


class CertManager(Component):
    """cert-manager with its CRDs (kept on uninstall so certificates survive a reinstall)."""

    release: k8s.helm.v3.Release
    """The Helm release that installs cert-manager and its CRDs."""
    namespace: pulumi.Output[str]
    """cert-manager's namespace: the cluster resource namespace of ClusterIssuers."""

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:CertManager", name, opts)
        self.release = platform_release(
            f"{name}-controllers",
            "cert-manager",
            args.namespace,
            ("cert-manager", args.version, CHART_REPO),
            {
                "crds": {"enabled": True, "keep": True},
                "global": {"leaderElection": {"namespace": args.namespace}},
                "prometheus": {"enabled": False},
            },
            mirror=args.helm_mirror_url,
            source=args.chart_source,
            ca_file=args.ca_file,
            opts=self.child(),
        )
        self.namespace = self.release.namespace.apply(lambda ns: ns or "")
        self.register_outputs({"namespace": self.namespace})


@dataclass(frozen=True)
class RootCAArgs:
    namespace: pulumi.Input[str]
    """Where the CA's Certificate and key Secret live (cert-manager's namespace)."""
    protect: bool = False


class RootCA(Component):
    """Self-signed ClusterIssuer, the ``kommander-ca`` CA Certificate and the ``kommander-ca`` ClusterIssuer."""

    issuer_name: pulumi.Output[str]
    """Name of the CA ClusterIssuer that signs the platform's certificates."""
    issuer: k8s.apiextensions.CustomResource
    """The CA ClusterIssuer (depend on it before requesting certificates)."""

    def __init__(self, name: str, args: RootCAArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:RootCA", name, opts)
        self_signed = k8s.apiextensions.CustomResource(
            f"{name}-selfsigned",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=meta(SELF_SIGNED_ISSUER, annotations=WAIT_READY),
            spec={"selfSigned": {}},
            opts=self.child(),
        )
        certificate = k8s.apiextensions.CustomResource(
            f"{name}-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=meta(CA_NAME, args.namespace, annotations=WAIT_READY),
            spec={
                "isCA": True,
                "commonName": CA_NAME,
                "secretName": CA_NAME,
                "duration": "87600h",
                "renewBefore": "720h",
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Never"},
                "issuerRef": {"name": SELF_SIGNED_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
            },
            opts=self.child(depends_on=[self_signed], protect=args.protect),
        )
        self.issuer = k8s.apiextensions.CustomResource(
            f"{name}-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=meta(CA_NAME, annotations=WAIT_READY),
            spec={"ca": {"secretName": CA_NAME}},
            opts=self.child(depends_on=[certificate]),
        )
        self.issuer_name = object_name(self.issuer)
        self.register_outputs({"issuer_name": self.issuer_name})
