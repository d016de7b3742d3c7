"""IngressCertificate: the platform's TLS certificate for ``ingress.domain``.

Three sources (``kommander:ingress.certificate``):

- ``rootCA`` (default): a cert-manager Certificate signed by the ``kommander-ca``
  ClusterIssuer, for the domain and its subdomains; waits Ready.
- ``acme``: an ACME ClusterIssuer (email, server, HTTP-01 solver on the
  ``solverClass`` ingress class) and a Certificate for the domain. It is not waited
  for: the HTTP-01 challenge needs the ingress controller (Traefik), which Flux
  deploys later in the ladder, so waiting here would deadlock the first ``up``.
- ``secret``: a TLS Secret the user provides in the kommander namespace; nothing is
  created and its name is passed on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import config
from components.k8s import WAIT_READY, Component, meta

#: The Secret the issued certificate is written to (what Traefik serves by default).
TLS_SECRET = "kommander-traefik-certificate"
CERTIFICATE = "kommander-traefik-certificate"
ACME_ISSUER = "kommander-acme"
#: The Secret cert-manager keeps the ACME account's private key in (cert-manager's namespace).
ACME_ACCOUNT_SECRET = f"{ACME_ISSUER}-account"
#: Don't wait for a resource's readiness (the provider's own await is skipped).
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}


@dataclass(frozen=True)
class IngressCertificateArgs:
    namespace: pulumi.Input[str]
    """The kommander namespace: where the TLS Secret lives (and Traefik runs)."""
    ingress: config.Ingress
    ca_issuer: pulumi.Input[str]
    """The root CA's ClusterIssuer name (``kommander-ca``)."""


def tls_secret_name(ingress: config.Ingress) -> str:
    """The TLS Secret the platform's ingress serves: the given one, else the issued one."""
    return ingress.secretName if ingress.certificate == "secret" and ingress.secretName else TLS_SECRET


def dns_names(ingress: config.Ingress) -> list[str]:
    """The certificate's names: the domain, plus its subdomains unless ACME HTTP-01 (no wildcards)."""
    return [ingress.domain] if ingress.certificate == "acme" else [ingress.domain, f"*.{ingress.domain}"]


def acme_issuer_spec(acme: config.Acme) -> dict[str, object]:
    return {
        "acme": {
            "email": acme.email,
            "server": acme.server,
            "privateKeySecretRef": {"name": ACME_ACCOUNT_SECRET},
            "solvers": [{"http01": {"ingress": {"ingressClassName": acme.solverClass}}}],
        }
    }


class IngressCertificate(Component):
    """The TLS Secret for ``ingress.domain``: from the root CA, from ACME, or given."""

    secret_name: pulumi.Output[str]
    """Name of the TLS Secret (in the kommander namespace) for the platform's ingress."""
    certificate: k8s.apiextensions.CustomResource | None
    """The cert-manager Certificate (none when the Secret is given)."""

    def __init__(self, name: str, args: IngressCertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:IngressCertificate", name, opts)
        ingress = args.ingress
        self.certificate = None
        if ingress.certificate == "secret":
            assert ingress.secretName is not None  # enforced by config.Ingress
            self.secret_name = pulumi.Output.from_input(ingress.secretName)
        else:
            issuer_deps: list[pulumi.Resource] = []
            issuer_name: pulumi.Input[str] = args.ca_issuer
            wait = WAIT_READY
            if ingress.certificate == "acme":
                assert ingress.acme is not None  # enforced by config.Ingress
                issuer = k8s.apiextensions.CustomResource(
                    f"{name}-acme-issuer",
                    api_version="cert-manager.io/v1",
                    kind="ClusterIssuer",
                    metadata=meta(ACME_ISSUER, annotations=WAIT_READY),
                    spec=acme_issuer_spec(ingress.acme),
                    opts=self.child(),
                )
                issuer_deps = [issuer]
                issuer_name = ACME_ISSUER
                wait = SKIP_AWAIT
            self.certificate = k8s.apiextensions.CustomResource(
                f"{name}-certificate",
                api_version="cert-manager.io/v1",
                kind="Certificate",
                metadata=meta(CERTIFICATE, args.namespace, annotations=wait),
                spec={
                    "secretName": TLS_SECRET,
                    "commonName": ingress.domain,
                    "dnsNames": dns_names(ingress),
                    "duration": "2160h",
                    "renewBefore": "360h",
                    "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                    "usages": ["server auth", "digital signature", "key encipherment"],
                    "issuerRef": {"name": issuer_name, "kind": "ClusterIssuer", "group": "cert-manager.io"},
                },
                opts=self.child(depends_on=issuer_deps),
            )
            self.secret_name = self.certificate.spec.apply(lambda s: str(s["secretName"]))  # type: ignore[attr-defined]
        self.register_outputs({"secret_name": self.secret_name})
