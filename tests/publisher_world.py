"""What the repository publisher's tests give it: a catalog checkout, its provider inputs for a Git server
(``conftest.git_server``), Gitea behind a fake API server's port-forward, and ``git`` on the bare repository."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyrage
from fakekube import FakeKube, gitea_cluster

from components import catalog as cat
from components import config, repository_content
from components.management_repository import provider_inputs

#: The repository as the stack names it without ``gitea.externalUrl``: reached through :data:`FORWARD`.
IN_CLUSTER_REPO = "http://gitea-http.kommander.svc.cluster.local:3000/kommander-admin/kommander.git"
FORWARD = {"namespace": "kommander", "name": "gitea-http", "port": 3000}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def write_catalog(root: Path) -> Path:
    """A small catalog checkout in the services layout (one application, one Helm repository) at ``root``."""
    for rel, text in {
        "services/podinfo/6.5.0/kustomization.yaml": "resources: [release.yaml]\n",
        "services/podinfo/6.5.0/release.yaml": "kind: HelmRelease\n",
        "services/podinfo/metadata.yaml": "displayName: podinfo\n",
        "common/helm-repositories/podinfo.yaml": "kind: HelmRepository\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def new_age() -> tuple[str, str]:
    """A new age key pair: (identity, recipient)."""
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def content_spec(applications_path: Path | None = None, prefix: str = "") -> repository_content.ContentSpec:
    root = applications_path or cat.DEFAULT_ROOT
    return repository_content.ContentSpec(str(root), cat.load(root).layout, path_prefix=prefix, cluster_name="mgmt")


def props(
    server: Any,
    catalog: Path,
    age: tuple[str, str] | None = None,
    *,
    prefix: str = "",
    url: str | None = None,
    **over: Any,
) -> dict[str, Any]:
    """The provider's inputs for ``catalog`` on a new repository of ``server`` (or at ``url``), encrypted to ``age``
    (a new key pair when None); ``over`` replaces inputs."""
    identity, recipient = age or new_age()
    spec = content_spec(catalog, prefix)
    base = provider_inputs(
        config.Gitea(pathPrefix=prefix),
        spec,
        repository_content.content_digest(repository_content.collect(spec)),
        url=url or server.create(),
        username=server.username,
        password=server.password,
        recipient=recipient,
        age_identity=identity,
        cluster_name="mgmt",
        kommander_namespace="kommander",
    )
    return {**base, **over}


@contextmanager
def gitea_api_server(server: Any) -> Iterator[FakeKube]:
    """A fake API server whose Gitea Service port-forwards to ``server``."""
    host, port = server.base_url.removeprefix("http://").split(":")
    fake = gitea_cluster((host, int(port)))
    try:
        yield fake
    finally:
        fake.stop()


def forwarded(server: Any, catalog: Path, kube: FakeKube, age: tuple[str, str] | None = None, **over: Any) -> dict:
    """Inputs as the stack passes them without gitea.externalUrl: the in-cluster URL, the Service, the cluster."""
    server.create()
    base = props(server, catalog, age, url=IN_CLUSTER_REPO)
    return {**base, "forward": FORWARD, "kubernetes": {"kubeconfig": kube.kubeconfig(), "context": ""}, **over}
