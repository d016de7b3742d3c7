"""CertManager and RootCA: chart with CRDs, then the self-signed root CA, in order, waiting Ready."""

from __future__ import annotations

from components.cert_manager import CA_NAME, CertManager, CertManagerArgs, RootCA, RootCAArgs


def _build(protect: bool = False) -> None:
    cm = CertManager("cm", CertManagerArgs("cert-manager", "v1.19.1"))
    import pulumi

    RootCA("ca", RootCAArgs(cm.namespace, protect=protect), opts=pulumi.ResourceOptions(depends_on=[cm]))


def test_cert_manager_release_installs_crds(program) -> None:
    graph = program(_build)
    release = graph.one("kubernetes:helm.sh/v3:Release")
    assert release.inputs["chart"] == "cert-manager" and release.inputs["version"] == "v1.19.1"
    assert release.inputs["values"]["crds"] == {"enabled": True, "keep": True}


def test_root_ca_objects_order_and_wait(program) -> None:
    graph = program(_build)
    release = graph.one("kubernetes:helm.sh/v3:Release")
    selfsigned = graph.one("kubernetes:cert-manager.io/v1:ClusterIssuer", "ca-selfsigned")
    cert = graph.one("kubernetes:cert-manager.io/v1:Certificate", "ca-certificate")
    issuer = graph.one("kubernetes:cert-manager.io/v1:ClusterIssuer", "ca-issuer")
    for cr in (selfsigned, cert, issuer):
        assert graph.depends_on(cr, release), f"{cr.name} must wait for cert-manager"
        assert cr.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
        assert cr.parent == graph.one("kommander:index:RootCA").urn
    assert graph.depends_on(cert, selfsigned) and graph.depends_on(issuer, cert)
    spec = cert.inputs["spec"]
    assert spec["isCA"] is True and spec["privateKey"]["algorithm"] == "ECDSA"
    assert spec["secretName"] == CA_NAME and cert.inputs["metadata"]["name"] == CA_NAME
    assert cert.inputs["metadata"]["namespace"] == "cert-manager"
    assert issuer.inputs["metadata"]["name"] == CA_NAME and issuer.inputs["spec"] == {"ca": {"secretName": CA_NAME}}
    assert "namespace" not in issuer.inputs["metadata"]


def test_protect_applies_to_the_ca_certificate_only(program) -> None:
    graph = program(lambda: _build(protect=True))
    protected = {r.name for r in graph if r.protect}
    assert protected == {"ca-certificate"}
