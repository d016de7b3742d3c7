"""FluxConfiguration: substitution-vars, the management GitRepository and apps-kommander, after content and Flux."""

from __future__ import annotations

import json
import re

from components import config, stack_plan
from components.flux_configuration import substitution_variables
from components.management_cluster import ManagementCluster

KUSTOMIZATION = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"
GIT_REPOSITORY = "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository"


def build(raw: dict | None = None):
    return lambda: ManagementCluster("kommander", stack_plan.build(config.parse(raw or {}, stack="dev")))


def test_objects_validate_and_depend_on_content_flux_and_key(program) -> None:
    graph = program(build())  # the fixture validates every object against the CRD schemas
    kustomization = graph.one(KUSTOMIZATION, "kommander-flux-configuration-kustomization")
    repository = graph.one(GIT_REPOSITORY, "kommander-flux-configuration-repository")
    content = graph.one("pulumi-python:dynamic:Resource", "kommander-management-repository-content")
    flux = graph.one("kubernetes:helm.sh/v3:Release", "kommander-flux-controllers")
    key = graph.one("pulumi-python:dynamic:Resource", "kommander-sops-age-key")
    gitea = graph.one("kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease", "kommander-gitea-release")
    for obj in (kustomization, repository):
        assert graph.depends_on(obj, content), f"{obj.name} must wait for the repository content"
        assert graph.depends_on(obj, flux), f"{obj.name} must wait for Flux"
        assert graph.depends_on(obj, key)
        annotations = obj.inputs["metadata"]["annotations"]
        commit = annotations["reconcile.fluxcd.io/requestedAt"]
        assert re.fullmatch("[0-9a-f]{40}", commit), f"{obj.name} must ask Flux for the published commit: {commit}"
        # Ready alone is satisfied by the previous request's status (an annotation change keeps the generation);
        # the provider must also see Flux's record of this request (the field ``flux reconcile`` waits for)
        assert json.loads(annotations["pulumi.com/waitFor"]) == [
            "condition=Ready",
            f"jsonpath={{.status.lastHandledReconcileAt}}={commit}",
        ]
    assert graph.depends_on(content, gitea) and graph.depends_on(content, key)
    assert not graph.depends_on(content, kustomization)


def test_kustomization_decrypts_substitutes_prunes_and_waits(program) -> None:
    graph = program(build({"gitea": {"pathPrefix": "platform", "branch": "env/dev"}}))
    spec = graph.one(KUSTOMIZATION, "kommander-flux-configuration-kustomization").inputs["spec"]
    assert spec["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    assert spec["postBuild"] == {"substituteFrom": [{"kind": "ConfigMap", "name": "substitution-vars"}]}
    assert spec["prune"] is True and spec["wait"] is True
    assert spec["path"] == "./platform/clusters/management"
    assert spec["sourceRef"] == {"kind": "GitRepository", "name": "management"}
    repo = graph.one(GIT_REPOSITORY, "kommander-flux-configuration-repository").inputs
    assert repo["metadata"]["name"] == "management" and repo["metadata"]["namespace"] == "kommander-flux"
    assert repo["spec"]["url"] == "http://gitea-http.kommander.svc.cluster.local:3000/kommander-admin/kommander.git"
    assert repo["spec"]["ref"] == {"branch": "env/dev"}
    assert repo["spec"]["secretRef"] == {"name": "management-git-credentials"}


def test_credentials_are_secret_and_variables_are_not(program) -> None:
    graph = program(build({"helmMirrorUrl": "https://mirror.example.com"}))
    creds = graph.one("kubernetes:core/v1:Secret", "kommander-flux-configuration-credentials")
    assert creds.inputs["stringData"]["username"] == "kommander-admin"
    assert any(p.startswith("stringData") for p in creds.secret_paths)
    cm = graph.one("kubernetes:core/v1:ConfigMap", "kommander-flux-configuration-vars")
    assert cm.inputs["metadata"]["name"] == "substitution-vars" and cm.secret_paths == []
    assert cm.inputs["data"] == {
        "clusterName": "management",
        "releaseNamespace": "kommander",
        "kommanderNamespace": "kommander",
        "fluxNamespace": "kommander-flux",
        "certManagerNamespace": "cert-manager",
        "domain": "kommander.127.0.0.1.nip.io",
        "helmMirrorURL": "https://mirror.example.com",
        # what kommander-applications' manifests read from substitution-vars
        "certificateIssuerName": "kommander-ca",
        "certificatesIssuerName": "kommander-ca",
        "certificatesCAIssuerName": "kommander-ca",
        "caIssuerName": "kommander-ca",
        "certificateIssuerKind": "ClusterIssuer",
        "caSecretName": "kommander-ca",
        "caSecretNamespace": "cert-manager",
        "tlsCertificateSecret": "kommander-traefik-certificate",
        "airgappedEnabled": "true",
    }
    password = graph.one("random:index/randomPassword:RandomPassword").name
    assert all(password not in str(v) for v in cm.inputs["data"].values())


def test_no_mirror_leaves_the_variable_unset() -> None:
    variables = substitution_variables(config.parse({}))
    assert "helmMirrorURL" not in variables and variables["airgappedEnabled"] == "false"


def test_main_exports_gitea_and_repository_urls_for_the_kind_stack(program) -> None:
    import runpy

    from support import ROOT, stack_config

    graph = program(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=stack_config("dev"), stack="dev")
    # the publisher port-forwards to the Service (it used to push to the NodePort, http://127.0.0.1:30080)
    assert graph.outputs["giteaUrl"] == "http://gitea-http.kommander.svc.cluster.local:3000"
    assert graph.outputs["managementRepositoryUrl"] == (
        "http://gitea-http.kommander.svc.cluster.local:3000/kommander-admin/kommander.git"
    )
    content = graph.one("pulumi-python:dynamic:Resource", "kommander-management-repository-content")
    assert content.inputs["forward"] == {"namespace": "kommander", "name": "gitea-http", "port": 3000}
    # the NodePort still exposes the Service (kind-config.yaml maps it to the host)
    release = graph.one("kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease", "kommander-gitea-release")
    assert release.inputs["spec"]["values"]["service"]["http"]["nodePort"] == 30080
