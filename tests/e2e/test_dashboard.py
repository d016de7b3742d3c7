"""The dashboard's routes against a real kube-apiserver (RBAC on) holding the upstream Flux CRDs.

A control plane of its own (the stack scenarios install the same CRDs through Helm), the stack file of
``tests/dashboard_world.py``, and Flux objects written as Flux would (status through the status
subresource). What only a real server proves: the kube context is loaded as the CLI loads it, the
merge patches and the dry run are accepted as sent, the SelfSubjectAccessReview answers for a user
RBAC lets read but not patch, and a page never carries a credential.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts import FLUX_PREFIXES, upstream_crds
from cluster import ControlPlane
from dashboard_world import CANARY, STACK, TRICKY, write_stack
from kubernetes import client
from kubernetes import config as kube_config
from starlette.testclient import TestClient

from automation import ops, stackfile
from automation.dashboard import kube, web
from components import tenancy_plan

WANTED = ("gitrepositories.source", "kustomizations.kustomize", "helmreleases.helm")
VIEWER = "dashboard-viewer"
TIME = "2026-12-01T10:00:00Z"


def condition(status: str, message: str) -> dict[str, Any]:
    reason = "ReconciliationSucceeded" if status == "True" else "ReconciliationFailed"
    return {"type": "Ready", "status": status, "reason": reason, "message": message, "lastTransitionTime": TIME}


@pytest.fixture(scope="module")
def plane(toolchain: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    control = ControlPlane(toolchain / "bin", tmp_path_factory.mktemp("dashboard-cluster"))
    try:
        control.start()
    except RuntimeError as exc:
        control.stop()
        pytest.fail(f"control plane: {exc}", pytrace=False)
    yield control
    control.stop()


def _install_crds(admin: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(admin)
    for crd in upstream_crds(FLUX_PREFIXES):
        if crd["metadata"]["name"].startswith(WANTED):
            ext.create_custom_resource_definition(crd)
    deadline = time.monotonic() + 60
    for crd in upstream_crds(FLUX_PREFIXES):
        name = crd["metadata"]["name"]
        while name.startswith(WANTED):
            conds = (ext.read_custom_resource_definition(name).status.conditions) or []
            if any(c.type == "Established" and c.status == "True" for c in conds):
                break
            assert time.monotonic() < deadline, f"CRD {name} not established"
            time.sleep(0.2)


def _create(api: client.CustomObjectsApi, gvp: tuple[str, str, str], kind: str, obj: dict, status: dict) -> None:
    group, version, plural = gvp
    meta = obj["metadata"]
    body = {"apiVersion": f"{group}/{version}", "kind": kind, **obj}
    api.create_namespaced_custom_object(group, version, meta["namespace"], plural, body)
    api.patch_namespaced_custom_object_status(
        group, version, meta["namespace"], plural, meta["name"], {"status": status}
    )


def _helm_release(api: client.CustomObjectsApi, namespace: str, name: str, chart: str, version: str) -> None:
    entry = {
        "chartName": chart, "chartVersion": version, "configDigest": "sha256:" + "0" * 64,
        "digest": "sha256:" + "1" * 64, "firstDeployed": TIME, "lastDeployed": TIME, "name": name,
        "namespace": namespace, "status": "deployed", "version": 1,
    }  # fmt: skip
    obj = {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {
            "interval": "10m",
            "chart": {
                "spec": {"chart": chart, "version": version, "sourceRef": {"kind": "HelmRepository", "name": "r"}}
            },
        },
    }
    status = {"conditions": [condition("True", "Helm install succeeded")], "history": [entry]}
    _create(api, ops.HELM_RELEASES, "HelmRelease", obj, status)


@pytest.fixture(scope="module")
def cluster(plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The world's Flux objects on the real server; returns the stack file and the admin client."""
    root = tmp_path_factory.mktemp("dashboard-stack")
    file = write_stack(root)
    targets = ops.targets(file.config)
    admin = kube_config.new_client_from_config(config_file=str(plane.kubeconfig))
    _install_crds(admin)
    core, api = client.CoreV1Api(admin), client.CustomObjectsApi(admin)
    namespaces = {s.namespace for s in targets.sources} | {
        t.namespace for s in targets.sources for t in s.kustomizations
    }
    namespaces |= {"kommander"}
    for ns in sorted(namespaces):
        core.create_namespace({"metadata": {"name": ns}})
    for src in targets.sources:
        latest = f"main@sha1:{abs(hash(src.source)) % 10**7:07d}"
        _create(
            api,
            ops.GIT_REPOSITORIES,
            "GitRepository",
            {"metadata": {"namespace": src.namespace, "name": src.repository},
             "spec": {"url": "https://git.example.com/x.git", "interval": "1m"}},
            {"artifact": {"revision": latest, "path": "a", "url": "http://a", "lastUpdateTime": TIME,
                          "digest": "sha256:" + "2" * 64},
             "conditions": [condition("True", f"stored '{latest}'")]},
        )  # fmt: skip
        for t in src.kustomizations:
            failing = (src.source, t.cluster) == ("web", "e2")
            _create(
                api,
                ops.KUSTOMIZATIONS,
                "Kustomization",
                {"metadata": {"namespace": t.namespace, "name": t.name},
                 "spec": {"interval": "1m", "prune": True, "suspend": False,
                          "sourceRef": {"kind": "GitRepository", "name": src.repository, "namespace": src.namespace}}},
                {"lastAppliedRevision": latest,
                 "conditions": [condition("False", TRICKY) if failing else condition("True", f"Applied {latest}")]},
            )  # fmt: skip
    _helm_release(api, "kommander", "traefik", "traefik", "37.1.2")
    # e1 is reached through its kubeconfig Secret (here: this same server, as admin); e2 has none
    e1 = next(c for c in targets.clusters if c.name == "e1")
    assert e1.kubeconfig_secret is not None
    ns, _, name = e1.kubeconfig_secret.partition("/")
    kubeconfig = plane.kubeconfig.read_text()
    data = {tenancy_plan.KUBECONFIG_KEY: base64.b64encode(kubeconfig.encode()).decode()}
    core.create_namespaced_secret(ns, {"metadata": {"name": name}, "data": data})
    return {"file": file, "api": api, "core": core, "admin": admin, "kubeconfig": kubeconfig, "root": root}


def _site(file: stackfile.StackFile, kubeconfig: Path) -> tuple[TestClient, kube.KubeBackend]:
    backend = kube.connect(file, {"KUBECONFIG": str(kubeconfig)})
    backend.ttl = 0
    app = web.Dashboard(backend, stack=STACK).app()
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False), backend


def _csrf(client_: TestClient) -> str:
    html = client_.get("/projects/shop/sources/web/confirm?action=suspend").text
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_pages_read_the_real_server(cluster: dict[str, Any], plane: ControlPlane) -> None:
    site, _ = _site(cluster["file"], plane.kubeconfig)
    for path in ("/", "/projects/shop", "/projects/ops", "/projects/shop/sources/web", "/helm-releases",
                 "/helm-releases?cluster=e1", "/projects/shop/sources/api/confirm?action=reconcile"):  # fmt: skip
        response = site.get(path)
        assert response.status_code == 200, (path, response.text[-500:])
    project = site.get("/projects/shop").text
    assert TRICKY.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;") in project
    helm = site.get("/helm-releases").text
    # on host-cluster and on e1 (the same server behind e1's kubeconfig)
    assert helm.count('title="HelmRelease kommander/traefik"') == 2
    assert "kubeconfig Secret edge/e2-kubeconfig not found" in helm


def test_suspend_resume_and_reconcile_on_the_real_server(cluster: dict[str, Any], plane: ControlPlane) -> None:
    site, backend = _site(cluster["file"], plane.kubeconfig)
    assert backend.read_only_reason() is None  # admin: the review allows it
    api = cluster["api"]
    (src,) = ops.select(backend.targets, project="shop", source="web")

    def suspended() -> list[bool]:
        return [
            api.get_namespaced_custom_object(*ops.KUSTOMIZATIONS[:2], t.namespace, ops.KUSTOMIZATIONS[2], t.name)[
                "spec"
            ]["suspend"]
            for t in src.kustomizations
        ]

    token = _csrf(site)
    response = site.post("/projects/shop/sources/web/suspend", data={"csrf": token, "cluster": ""})
    assert response.status_code == 303, response.text[-500:]
    assert suspended() == [True, True]
    assert "suspend: true" in (cluster["root"] / f"Pulumi.{STACK}.yaml").read_text()
    page = site.get(response.headers["location"]).text
    assert page.count('data-suspended="true"') == 2 and "spec.suspend false → true" in page
    site.post("/projects/shop/sources/web/resume", data={"csrf": token, "cluster": "e1"})
    assert suspended() == [False, True]
    site.post("/projects/shop/sources/web/resume", data={"csrf": token, "cluster": ""})
    assert suspended() == [False, False]
    site.post("/projects/shop/sources/web/reconcile", data={"csrf": token, "cluster": ""})
    repo = api.get_namespaced_custom_object(
        *ops.GIT_REPOSITORIES[:2], src.namespace, ops.GIT_REPOSITORIES[2], src.repository
    )
    assert ops.REQUESTED_AT in repo["metadata"]["annotations"]


def _viewer_kubeconfig(cluster: dict[str, Any], path: Path) -> Path:
    """A kubeconfig for a ServiceAccount RBAC lets get/list the Flux objects, Secrets and Events, not patch."""
    core, admin = cluster["core"], cluster["admin"]
    rbac = client.RbacAuthorizationV1Api(admin)
    core.create_namespaced_service_account("default", {"metadata": {"name": VIEWER}})
    rules = [
        {"apiGroups": [g.split(".", 1)[1] + ".toolkit.fluxcd.io"], "resources": [g.split(".", 1)[0]],
         "verbs": ["get", "list", "watch"]}
        for g in WANTED
    ]  # fmt: skip
    rules.append({"apiGroups": [""], "resources": ["secrets", "events"], "verbs": ["get", "list"]})
    rbac.create_cluster_role({"metadata": {"name": VIEWER}, "rules": rules})
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": VIEWER},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": VIEWER},
            "subjects": [{"kind": "ServiceAccount", "name": VIEWER, "namespace": "default"}],
        }
    )
    token = core.create_namespaced_service_account_token(VIEWER, "default", {"spec": {"expirationSeconds": 3600}})
    config = yaml.safe_load(cluster["kubeconfig"])
    config["users"] = [{"name": "admin", "user": {"token": token.status.token}}]
    path.write_text(yaml.safe_dump(config))
    return path


def test_read_only_for_a_user_rbac_does_not_let_patch(
    cluster: dict[str, Any], plane: ControlPlane, tmp_path: Path
) -> None:
    kubeconfig = _viewer_kubeconfig(cluster, tmp_path / "viewer.kubeconfig")
    token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
    site, backend = _site(cluster["file"], kubeconfig)
    reason = backend.read_only_reason()
    assert reason is not None and reason.startswith("your credentials cannot patch ")
    project = site.get("/projects/shop").text
    assert "Read-only: your credentials cannot patch" in project
    assert project.count(" disabled") == 8  # the three buttons and the cluster list of both sources
    before = cluster["api"].list_cluster_custom_object(*ops.KUSTOMIZATIONS)["items"]
    response = site.post("/projects/shop/sources/web/suspend", data={"csrf": _csrf(site), "cluster": ""})
    assert response.status_code == 403
    after = cluster["api"].list_cluster_custom_object(*ops.KUSTOMIZATIONS)["items"]
    assert [o["spec"]["suspend"] for o in after] == [o["spec"]["suspend"] for o in before]
    seen = "\n".join(site.get(p).text for p in ("/", "/projects/shop", "/projects/shop/sources/web", "/helm-releases"))
    admin_key = yaml.safe_load(cluster["kubeconfig"])["users"][0]["user"]["client-key-data"]
    for secret in (token, admin_key, CANARY):
        assert secret not in seen
