"""A small tenancy on fake clusters, shared by the tests of automation/ops.py and its commands."""

from __future__ import annotations

from typing import Any

import yaml
from fakekube import FakeKube, secret
from kubernetes import client
from kubernetes import config as kube_config

from automation import ops

SMALL_STACK = """\
# A small stack: one workspace, two attached clusters.
config:
  kommander:clusterName: small   # the management cluster
  kommander:workspaces:
    - name: edge
      clusters:
        - name: e1
          labels: {env: prod}
          kubeconfig:
            secure: v1:abc:def
        - name: e2
          labels: {env: prod}
          kubeconfig:
            secure: v1:ghi:jkl
  kommander:projects:
    - name: shop
      workspace: edge
      clusterSelector:
        matchLabels: {env: prod}
      sources:
        - name: web
          url: https://h/web   # the storefront
        - name: api
          url: https://h/api
          credentials:
            username: u
            password:
              secure: v1:mno:pqr
    - name: ops
      workspace: default
      sources:
        - name: web
          url: https://h/ops
          suspend: false
"""


def ready(status: str, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": "Ready", "status": status, "message": message, **extra}


def obj(name: str, namespace: str, **body: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, **body}


def apis(fake: FakeKube) -> tuple[client.CustomObjectsApi, client.CoreV1Api]:
    api_client = kube_config.new_client_from_config_dict(yaml.safe_load(fake.kubeconfig()))
    return client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)


def closed_port_kubeconfig() -> str:
    """A kubeconfig whose server answers nothing (port 9 on loopback: connection refused)."""
    fake = FakeKube()
    text = fake.kubeconfig().replace(fake.url, "http://127.0.0.1:9")
    fake._server.server_close()
    return text


def populate(mgmt: FakeKube, e1: FakeKube) -> None:
    """The management cluster's Flux objects and e1's and e2's kubeconfig Secrets (e2 unreachable);
    one HelmRelease on e1."""
    mgmt.add(
        ops.GIT_REPOSITORIES,
        obj("web", "shop", status={"artifact": {"revision": "main@sha1:bbb"}, "conditions": [ready("True", "stored")]}),
    )
    mgmt.add(
        ops.GIT_REPOSITORIES,
        obj(
            "api",
            "shop",
            status={"conditions": [ready("False", "auth failed: [401] see [/spec/secretRef]")]},
        ),
    )
    mgmt.add(
        ops.KUSTOMIZATIONS,
        obj(
            "shop-web-e1",
            "edge",
            spec={"suspend": False},
            status={
                "lastAppliedRevision": "main@sha1:bbb",
                "conditions": [ready("True", "Applied revision: main@sha1:bbb")],
            },
        ),
    )
    mgmt.add(
        ops.KUSTOMIZATIONS,
        obj(
            "shop-web-e2",
            "edge",
            spec={"suspend": True},
            status={
                "lastAppliedRevision": "main@sha1:aaa",
                "conditions": [ready("False", "Deployment/shop/web dry-run failed: [spec.replicas]: Invalid value")],
            },
        ),
    )
    mgmt.add(ops.KUSTOMIZATIONS, obj("shop-api-e1", "edge", spec={}, status={}))
    # shop-api-e2 is missing; ops/web has no status yet
    mgmt.add(ops.GIT_REPOSITORIES, obj("web", "ops", spec={}))
    mgmt.add(ops.KUSTOMIZATIONS, obj("ops-web-host-cluster", "ops", spec={"suspend": False}))
    mgmt.add(
        ops.HELM_RELEASES,
        obj(
            "gitea",
            "kommander",
            spec={"chart": {"spec": {"chart": "gitea", "version": "12.x"}}},
            status={
                "history": [
                    {"name": "gitea", "namespace": "kommander", "chartName": "gitea", "chartVersion": "12.4.0"}
                ],
                "conditions": [ready("True", "Helm install succeeded for release kommander/gitea.v1")],
            },
        ),
    )
    mgmt.add(
        ops.HELM_RELEASES,
        obj(
            "redis",
            "ops",
            spec={
                "suspend": True,
                "targetNamespace": "cache",
                "chart": {"spec": {"chart": "redis", "version": "20.1.0"}},
            },
            status={"conditions": [ready("False", "install retries exhausted")]},
        ),
    )
    e1.add(
        ops.HELM_RELEASES,
        obj(
            "web",
            "shop",
            spec={"releaseName": "storefront", "chartRef": {"kind": "OCIRepository", "name": "web-chart"}},
            status={"lastAttemptedRevision": "1.2.3", "conditions": [ready("True")]},
        ),
    )
    mgmt.secrets[("edge", "e1-kubeconfig")] = secret("e1-kubeconfig", "edge", {"value.yaml": e1.kubeconfig()})
    mgmt.secrets[("edge", "e2-kubeconfig")] = secret("e2-kubeconfig", "edge", {"value.yaml": closed_port_kubeconfig()})
