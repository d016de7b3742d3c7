"""Namespaces: the platform's namespaces, labelled."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.k8s import Component, meta


@dataclass(frozen=True)
class NamespacesArgs:
    kommander: str
    flux: str
    cert_manager: str
    labels: dict[str, str] = field(default_factory=dict)


class Namespaces(Component):
    """``kommander``, ``kommander-flux`` and ``cert-manager`` (names configurable)."""

    kommander: pulumi.Output[str]
    """Name of the namespace the platform's applications run in."""
    flux: pulumi.Output[str]
    """Name of the namespace of the Flux controllers and the platform's Flux objects."""
    cert_manager: pulumi.Output[str]
    """Name of cert-manager's namespace."""

    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:Namespaces", name, opts)
        made = {
            part: k8s.core.v1.Namespace(
                f"{name}-{part}",
                metadata=meta(ns, labels={**args.labels, "kommander.d2iq.io/role": part}),
                opts=self.child(),
            )
            for part, ns in (("kommander", args.kommander), ("flux", args.flux), ("cert-manager", args.cert_manager))
        }
        self.kommander = made["kommander"].metadata.apply(lambda m: str(m.name))
        self.flux = made["flux"].metadata.apply(lambda m: str(m.name))
        self.cert_manager = made["cert-manager"].metadata.apply(lambda m: str(m.name))
        self.register_outputs({"kommander": self.kommander, "flux": self.flux, "cert_manager": self.cert_manager})
