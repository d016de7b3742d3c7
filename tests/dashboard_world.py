"""A small world for the dashboard's tests: a stack file, and fake API servers holding its Flux objects.

The management cluster and the attached cluster ``e1`` are :class:`fakekube.FakeKube` servers;
``e2`` has no kubeconfig Secret, so it cannot be read. Names come from the tenancy plan (through
``ops.targets``). Every secret carries :data:`CANARY`: the bearer tokens, the kubeconfig Secret,
the Git credentials Secret and the stack file's ciphertexts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fakekube import FakeKube, event, secret
from kubernetes import client
from kubernetes import config as kube_config

from automation import ops, stackfile
from automation.dashboard.kube import KubeBackend
from components import tenancy_plan

ROOT = Path(__file__).resolve().parent.parent
CANARY = "canary-5d1c"
STACK = "world"
#: Shown verbatim on the pages: markup, brackets and an ampersand.
TRICKY = "kustomize build failed: <b>accumulating</b> [/spec/template] & 'missing' field"

STACK_FILE = f"""\
config:
  kommander:clusterName: world
  kommander:workspaces:
    - name: edge
      clusters:
        - name: e1
          labels: {{env: prod}}
          kubeconfig:
            secure: v1:{CANARY}-ciphertext-e1
        - name: e2
          labels: {{env: prod}}
          kubeconfig:
            secure: v1:{CANARY}-ciphertext-e2
  kommander:projects:
    - name: shop
      workspace: edge
      clusterSelector:
        matchLabels: {{env: prod}}
      sources:
        - name: web
          url: https://git.example.com/shop/web.git
          path: ./deploy
        - name: api
          url: https://git.example.com/shop/api.git
          ref: {{tag: v1.4.0}}
          credentials:
            username: deploy
            password:
              secure: v1:{CANARY}-ciphertext-password
    - name: ops
      workspace: default
      sources:
        - name: tools
          url: https://git.example.com/ops/tools.git
"""


def ready(status: str, message: str, reason: str = "") -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": reason or ("ReconciliationSucceeded" if status == "True" else "ReconciliationFailed"),
        "message": message,
        "lastTransitionTime": "2026-12-01T10:00:00Z",
    }


@dataclass
class World:
    root: Path
    file: stackfile.StackFile
    targets: ops.Targets
    management: FakeKube
    e1: FakeKube

    @property
    def stack_path(self) -> Path:
        return self.root / f"Pulumi.{STACK}.yaml"

    def kustomization(self, project: str, source: str, cluster: str) -> ops.Target:
        (src,) = ops.select(self.targets, project=project, source=source)
        return next(t for t in src.kustomizations if t.cluster == cluster)

    def source(self, project: str, source: str) -> ops.Source:
        (src,) = ops.select(self.targets, project=project, source=source)
        return src

    def get(self, project: str, source: str, cluster: str) -> dict[str, Any]:
        t = self.kustomization(project, source, cluster)
        return self.management.get(ops.KUSTOMIZATIONS, t.namespace, t.name)

    def set_ready(self, project: str, source: str, cluster: str, status: str, message: str) -> None:
        t = self.kustomization(project, source, cluster)
        with self.management.lock:
            obj = self.management.objects[(*ops.KUSTOMIZATIONS, t.namespace, t.name)]
            obj["status"]["conditions"] = [ready(status, message)]

    def set_repository_ready(self, project: str, source: str, status: str, message: str) -> None:
        src = self.source(project, source)
        with self.management.lock:
            obj = self.management.objects[(*ops.GIT_REPOSITORIES, src.namespace, src.repository)]
            obj["status"]["conditions"] = [ready(status, message)]

    def backend(self, api_auth: Any = None, **kwargs: Any) -> KubeBackend:
        api_client = kube_config.new_client_from_config_dict(yaml.safe_load(self.management.kubeconfig()))
        return KubeBackend(
            self.file.config,
            client.CustomObjectsApi(api_client),
            client.CoreV1Api(api_client),
            api_auth if api_auth is not None else client.AuthorizationV1Api(api_client),
            stack_file=self.stack_path,
            **kwargs,
        )

    def secrets(self) -> list[str]:
        """Every secret string of the world (each contains the canary, or is a token)."""
        return [self.management.token, self.e1.token, CANARY, self.e1.kubeconfig()]

    def stop(self) -> None:
        self.management.stop()
        self.e1.stop()


def helm_release(namespace: str, name: str, chart: str, version: str, status: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"chart": {"spec": {"chart": chart, "version": version}}},
        "status": {
            "conditions": [ready(status, message)],
            "history": [{"name": name, "namespace": namespace, "chartName": chart, "chartVersion": version}],
        },
    }


def write_stack(root: Path, text: str = STACK_FILE, stack: str = STACK) -> stackfile.StackFile:
    """``Pulumi.<stack>.yaml`` (the world's, unless ``text``) and ``Pulumi.yaml`` under ``root``, loaded."""
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / f"Pulumi.{stack}.yaml").write_text(text)
    return stackfile.load(root, stack)


def make_world(root: Path) -> World:
    """Write the stack file under ``root`` and start the fake clusters (stop them with :meth:`World.stop`)."""
    file = write_stack(root)
    targets = ops.targets(file.config)
    management = FakeKube(token=f"{CANARY}-management-token").start()
    e1 = FakeKube(token=f"{CANARY}-e1-token").start()
    world = World(root, file, targets, management, e1)

    revisions = {("shop", "web"): "main@sha1:7d3c1f0", ("shop", "api"): "v1.4.0@sha1:91be22a"}
    revisions[("ops", "tools")] = "main@sha1:c0ffee1"
    for src in targets.sources:
        latest = revisions[(src.project, src.source)]
        management.add(
            ops.GIT_REPOSITORIES,
            {
                "metadata": {"namespace": src.namespace, "name": src.repository},
                "spec": {"interval": "1m"},
                "status": {"artifact": {"revision": latest}, "conditions": [ready("True", f"stored '{latest}'")]},
            },
        )
        for t in src.kustomizations:
            management.add(
                ops.KUSTOMIZATIONS,
                {
                    "metadata": {"namespace": t.namespace, "name": t.name},
                    "spec": {"suspend": False, "interval": "1m"},
                    "status": {
                        "lastAppliedRevision": latest,
                        "conditions": [ready("True", f"Applied revision: {latest}")],
                    },
                },
            )
    # shop/web fails on e2 with an older revision; shop/api is missing on e2; ops/tools is suspended.
    web_e2 = world.kustomization("shop", "web", "e2")
    obj = management.objects[(*ops.KUSTOMIZATIONS, web_e2.namespace, web_e2.name)]
    obj["status"] = {"lastAppliedRevision": "main@sha1:5a5a5a5", "conditions": [ready("False", TRICKY)]}
    api_e2 = world.kustomization("shop", "api", "e2")
    del management.objects[(*ops.KUSTOMIZATIONS, api_e2.namespace, api_e2.name)]
    tools = world.kustomization("ops", "tools", tenancy_plan.HOST_CLUSTER)
    management.objects[(*ops.KUSTOMIZATIONS, tools.namespace, tools.name)]["spec"]["suspend"] = True

    management.events.append(
        event(
            web_e2.namespace,
            "Kustomization",
            web_e2.name,
            "ReconciliationFailed",
            TRICKY,
            type="Warning",
            time="2026-12-01T10:05:00Z",
        )
    )
    web = world.source("shop", "web")
    management.events.append(
        event(
            web.namespace,
            "GitRepository",
            web.repository,
            "NewArtifact",
            "stored artifact for commit 7d3c1f0",
            time="2026-12-01T10:01:00Z",
        )
    )

    e1_secret = next(c.kubeconfig_secret for c in targets.clusters if c.name == "e1")
    assert e1_secret is not None
    namespace, _, name = e1_secret.partition("/")
    management.secrets[(namespace, name)] = secret(name, namespace, {tenancy_plan.KUBECONFIG_KEY: e1.kubeconfig()})
    api = world.source("shop", "api")
    management.secrets[(api.namespace, tenancy_plan.credentials_secret_name("api"))] = secret(
        tenancy_plan.credentials_secret_name("api"), api.namespace, {"username": "deploy", "password": CANARY}
    )

    management.add(
        ops.HELM_RELEASES, helm_release("kommander", "traefik", "traefik", "37.1.2", "True", "Helm install succeeded")
    )
    management.add(
        ops.HELM_RELEASES, helm_release("ops", "toolbox", "toolbox", "0.3.0", "True", "Helm upgrade succeeded")
    )
    e1.add(ops.HELM_RELEASES, helm_release("shop", "storefront", "podinfo", "6.5.4", "True", "Helm install succeeded"))
    e1.add(
        ops.HELM_RELEASES,
        helm_release("shop", "cache", "redis", "19.0.1", "False", "install retries exhausted: <timeout> [30s]"),
    )
    return world
