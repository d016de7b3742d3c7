"""IngressCertificate: TLS for ingress.domain from the root CA, ACME, or a given secret; Traefik as a core app."""

from __future__ import annotations

import pulumi
import pytest
from support import build, crd_installer

from components import config
from components.ingress import ACME_ISSUER, TLS_SECRET, IngressCertificate, IngressCertificateArgs

CERT = "kommander:index:IngressCertificate"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"


def _build(ingress: dict):
    settings = config.Ingress.model_validate(ingress)

    def fn() -> None:
        cert = IngressCertificate("tls", IngressCertificateArgs("kommander", settings, "kommander-ca"))
        pulumi.export("secret", cert.secret_name)

    return fn


def test_root_ca_certificate_waits_ready(program) -> None:
    graph = program(_build({"domain": "k.example.com"}))
    cert = graph.one(CERTIFICATE, "tls-certificate")
    assert cert.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert cert.inputs["metadata"]["namespace"] == "kommander"
    spec = cert.inputs["spec"]
    assert spec["issuerRef"] == {"name": "kommander-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert spec["dnsNames"] == ["k.example.com", "*.k.example.com"] and spec["secretName"] == TLS_SECRET
    assert not graph.of_type(ISSUER)
    assert graph.outputs["secret"] == TLS_SECRET


def test_acme_issuer_and_certificate(program) -> None:
    acme = {"email": "ops@example.com", "server": "https://acme.example.com/dir", "solverClass": "nginx"}
    graph = program(_build({"domain": "k.example.com", "certificate": "acme", "acme": acme}))
    issuer = graph.one(ISSUER, "tls-acme-issuer")
    cert = graph.one(CERTIFICATE, "tls-certificate")
    spec = issuer.inputs["spec"]["acme"]
    assert spec["email"] == "ops@example.com" and spec["server"] == "https://acme.example.com/dir"
    assert spec["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
    assert issuer.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert cert.inputs["spec"]["issuerRef"]["name"] == ACME_ISSUER
    assert cert.inputs["spec"]["dnsNames"] == ["k.example.com"], "HTTP-01 cannot issue wildcards"
    # the HTTP-01 challenge needs Traefik, which Flux deploys later: not awaited
    assert cert.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true", "pulumi.com/patchForce": "true"}
    assert graph.depends_on(cert, issuer)


def test_given_secret_creates_nothing(program) -> None:
    graph = program(_build({"certificate": "secret", "secretName": "my-tls"}))
    assert not graph.of_type(CERTIFICATE) and not graph.of_type(ISSUER)
    assert graph.outputs["secret"] == "my-tls"


@pytest.mark.parametrize(
    ("ingress", "message"),
    [
        ({"certificate": "acme"}, "kommander:ingress: certificate 'acme' needs an 'acme' block"),
        ({"certificate": "secret"}, "kommander:ingress: certificate 'secret' needs 'secretName'"),
        ({"certificate": "acme", "acme": {"email": "nope"}}, "kommander:ingress.acme.email: 'nope' is not a valid"),
    ],
)
def test_config_errors(ingress: dict, message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        config.parse({"ingress": ingress})


def test_wired_after_the_root_ca_with_traefik_as_core_app(program) -> None:
    graph = program(build())
    cert = graph.one(CERTIFICATE, "kommander-ingress-certificate-certificate")
    assert graph.depends_on(cert, graph.one("kommander:index:RootCA"))
    assert graph.depends_on(cert, crd_installer(graph, "cert-manager.io/v1"))
    traefik = graph.one("kommander:index:AppDeployment", "kommander-app-traefik")
    kustomization = graph.children(traefik)[0]
    assert kustomization.inputs["spec"]["path"] == "./applications/traefik/37.1.2"
    assert kustomization.inputs["spec"]["postBuild"]["substitute"]["ingressTLSSecret"] == TLS_SECRET


def test_ingress_disabled_has_no_certificate_and_no_traefik(program) -> None:
    graph = program(build({"ingress": {"enabled": False}}))
    assert not graph.of_type(CERT)
    apps = {r.name for r in graph.of_type("kommander:index:AppDeployment")}
    assert "kommander-app-traefik" not in apps and "kommander-app-gitea" in apps
