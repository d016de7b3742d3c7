"""ManagementCluster: the whole platform, composed from the typed stack config.

The constructor reads like the dependency ladder in DESIGN.md. Data flows as Outputs;
order that data does not imply is an explicit ``depends_on`` on a whole component.
"""

from __future__ import annotations

import pulumi

from components.cert_manager import CertManager, CertManagerArgs, RootCA, RootCAArgs
from components.config import StackConfig
from components.flux import Flux, FluxArgs
from components.k8s import Component
from components.namespaces import Namespaces, NamespacesArgs


class ManagementCluster(Component):
    """A Kommander-style GitOps management cluster."""

    namespaces: Namespaces
    """The platform's namespaces."""
    flux: Flux
    """The Flux controllers (every Flux custom resource depends on it)."""
    cert_manager: CertManager
    """cert-manager (every cert-manager custom resource depends on it)."""
    root_ca: RootCA
    """The self-signed root CA and its ``kommander-ca`` ClusterIssuer."""

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:ManagementCluster", name, opts)
        mirror = cfg.helmMirrorUrl
        here = self.child()

        # 1. namespaces
        self.namespaces = Namespaces(
            f"{name}-namespaces",
            NamespacesArgs(
                kommander=cfg.namespaces.kommander,
                flux=cfg.namespaces.flux,
                cert_manager=cfg.namespaces.certManager,
                labels=cfg.namespaces.labels,
            ),
            opts=here,
        )
        # 2. Flux (controllers + CRDs)
        self.flux = Flux(
            f"{name}-flux",
            FluxArgs(self.namespaces.flux, cfg.versions.flux, cfg.flux, mirror),
            opts=here,
        )
        # 3. cert-manager, then the root CA (its custom resources need cert-manager's CRDs and webhook)
        self.cert_manager = CertManager(
            f"{name}-cert-manager",
            CertManagerArgs(self.namespaces.cert_manager, cfg.versions.certManager, mirror),
            opts=here,
        )
        self.root_ca = RootCA(
            f"{name}-root-ca",
            RootCAArgs(self.cert_manager.namespace, protect=cfg.protect),
            opts=self.child(depends_on=[self.cert_manager]),
        )

        self.register_outputs(
            {
                "kommander_namespace": self.namespaces.kommander,
                "flux_namespace": self.namespaces.flux,
                "ca_issuer": self.root_ca.issuer_name,
                "flux_version": self.flux.version,
            }
        )
