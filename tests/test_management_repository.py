"""ManagementRepository: the dynamic provider against a real Git server, SOPS round trip, and the component."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pyrage
import pytest
import yaml
from fakekube import FakeKube
from publisher_world import (
    FORWARD,
    IN_CLUSTER_REPO,
    content_spec,
    forwarded,
    git,
    gitea_api_server,
    new_age,
    props,
    write_catalog,
)
from pydantic import SecretStr
from stacks import STACKS, stack_graph

from components import catalog as cat
from components import config, gitrepo, repository_content, stack_plan
from components.management_repository import (
    SECRET_KEYS,
    ManagementRepository,
    ManagementRepositoryArgs,
    RepositoryProvider,
)


def commits(bare: Path) -> int:
    return int(git(bare, "rev-list", "--count", "main").strip())


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    return write_catalog(tmp_path / "checkout")


@pytest.fixture
def age() -> tuple[str, str]:
    return new_age()


def all_blobs(bare: Path) -> list[bytes]:
    objects = git(bare, "rev-list", "--all", "--objects").split("\n")
    out = []
    for line in objects:
        sha = line.split(" ")[0]
        if sha and git(bare, "cat-file", "-t", sha).strip() == "blob":
            out.append(subprocess.run(["git", "-C", str(bare), "cat-file", "blob", sha], capture_output=True).stdout)
    return out


def test_create_noop_update_and_delete(git_server, catalog, age) -> None:
    provider = RepositoryProvider()
    p = props(git_server, catalog, age)
    bare = git_server.bare()
    created = provider.create(p)
    assert created.outs["committed"] is True and commits(bare) == 1
    tree = set(git(bare, "ls-tree", "-r", "--name-only", "main").split())
    bootstrap = {p.relative_to(cat.DEFAULT_ROOT).as_posix() for p in (cat.DEFAULT_ROOT / "bootstrap").rglob("*.yaml")}
    assert tree == {
        ".sops.yaml",
        # the checkout's tree as it is (its own layout), and the project's bootstrap manifests
        "services/podinfo/6.5.0/kustomization.yaml",
        "services/podinfo/6.5.0/release.yaml",
        "services/podinfo/metadata.yaml",
        "common/helm-repositories/podinfo.yaml",
        "clusters/mgmt/kustomization.yaml",
        "secrets/gitea-credentials.enc.yaml",
        *bootstrap,
    }
    # a re-run with the same inputs: no diff, and even a forced publish makes no commit
    assert provider.diff(created.id, created.outs, p).changes is False
    again = provider.update(created.id, created.outs, p)
    assert again.outs["committed"] is False and again.outs["commit"] == created.outs["commit"] and commits(bare) == 1
    # one changed file: a diff, then exactly one commit
    (catalog / "services/podinfo/6.5.0/release.yaml").write_text("kind: HelmRelease\nspec: {}\n")
    changed = props(git_server, catalog, age, url=p["url"])
    assert provider.diff(created.id, created.outs, changed).changes is True
    updated = provider.update(created.id, created.outs, changed)
    assert updated.outs["committed"] is True and commits(bare) == 2
    assert git(bare, "diff", "--name-only", "main~1", "main").split() == ["services/podinfo/6.5.0/release.yaml"]
    # delete leaves the history
    provider.delete(created.id, updated.outs)
    assert commits(bare) == 2


def test_diff_sees_secret_and_recipient_changes_only(git_server, catalog, age) -> None:
    p = props(git_server, catalog, age)
    provider = RepositoryProvider()
    assert provider.diff("id", p, {**p, "password": "rotated"}).changes is True
    assert provider.diff("id", p, {**p, "recipient": "age1other"}).changes is True
    assert provider.diff("id", p, {**p, "author_name": "Someone"}).changes is False


def test_sops_round_trip_and_no_plaintext_in_history(git_server, catalog, age) -> None:
    provider = RepositoryProvider()
    p = props(git_server, catalog, age)
    provider.create(p)
    rotated = {**p, "password": "second-pa55word-rotated"}
    git_server.set_password("second-pa55word-rotated")
    provider.update("id", p, rotated)
    bare = git_server.bare()
    encrypted = git(bare, "show", "main:secrets/gitea-credentials.enc.yaml").encode()
    doc = yaml.safe_load(gitrepo.decrypt(encrypted, age[0]))
    assert doc["stringData"] == {"username": "kommander-admin", "password": "second-pa55word-rotated"}
    assert doc["metadata"] == {"name": "gitea-credentials", "namespace": "kommander"}
    with pytest.raises(gitrepo.GitRepoError, match="sops decrypt failed"):
        gitrepo.decrypt(encrypted, str(pyrage.x25519.Identity.generate()))
    assert yaml.safe_load(git(bare, "show", "main:.sops.yaml"))["creation_rules"][0]["age"] == age[1]
    blobs = all_blobs(bare)
    assert len(blobs) >= 8
    for blob in blobs:
        for secret in (p["password"], rotated["password"], age[0]):
            assert secret.encode() not in blob


def test_password_unchanged_means_secret_file_unchanged(git_server, catalog, age) -> None:
    provider = RepositoryProvider()
    p = props(git_server, catalog, age)
    provider.create(p)
    before = git(git_server.bare(), "rev-parse", "main:secrets/gitea-credentials.enc.yaml")
    (catalog / "services/podinfo/metadata.yaml").write_text("displayName: Podinfo\n")
    provider.update("id", p, props(git_server, catalog, age, url=p["url"]))
    assert git(git_server.bare(), "rev-parse", "main:secrets/gitea-credentials.enc.yaml") == before
    other = pyrage.x25519.Identity.generate()
    provider.update("id", p, props(git_server, catalog, (str(other), str(other.to_public())), url=p["url"]))
    assert git(git_server.bare(), "rev-parse", "main:secrets/gitea-credentials.enc.yaml") != before


def test_outputs_keep_secrets_only_under_secret_keys(git_server, catalog, age) -> None:
    outs = RepositoryProvider().create(props(git_server, catalog, age)).outs
    public = json.dumps({k: v for k, v in outs.items() if k not in SECRET_KEYS})
    assert git_server.password not in public and age[0] not in public
    assert "@" not in outs["url"]


def test_bad_credentials_and_unreachable_server_fail_cleanly(git_server, catalog, age) -> None:
    provider = RepositoryProvider()
    p = props(git_server, catalog, age, password="wrong-password")
    with pytest.raises(gitrepo.GitRepoError, match="authentication failed") as err:
        provider.create(p)
    assert "wrong-password" not in str(err.value)
    assert git(git_server.bare(), "branch", "--list").strip() == ""
    with pytest.raises(gitrepo.GitRepoError, match="unreachable"):
        provider.create({**p, "url": "http://127.0.0.1:9/x/y.git"})
    assert provider.create(props(git_server, catalog, age, url=p["url"])).outs["committed"] is True


def test_content_changed_since_preview_is_an_error(git_server, catalog, age) -> None:
    p = props(git_server, catalog, age)
    (catalog / "services/podinfo/metadata.yaml").write_text("displayName: changed\n")
    with pytest.raises(gitrepo.GitRepoError, match="changed between preview and update"):
        RepositoryProvider().create(p)


# --------------------------------------------------------------------------- the component (mocks)


def _component(applications_path: Path | None = None, prefix: str = "") -> ManagementRepository:
    spec = content_spec(applications_path, prefix)
    return ManagementRepository(
        "repo",
        ManagementRepositoryArgs(
            url="http://127.0.0.1:30080/kommander-admin/kommander.git",
            username="kommander-admin",
            password=pulumi.Output.secret("pw"),
            recipient="age1xyz",
            age_identity=pulumi.Output.secret("AGE-SECRET-KEY-1XYZ"),
            settings=config.Gitea(pathPrefix=prefix),
            cluster_name="mgmt",
            kommander_namespace="kommander",
            content=spec,
            digest=repository_content.content_digest(repository_content.collect(spec)),
        ),
    )


def test_component_passes_secrets_as_secrets_and_a_digest(program, catalog) -> None:
    graph = program(lambda: _component(catalog, prefix="platform"))
    content = graph.one("pulumi-python:dynamic:Resource", "repo-content")
    assert content.parent == graph.one("kommander:index:ManagementRepository").urn
    assert {"password", "age_identity"} <= set(content.secret_paths)
    assert "recipient" not in content.secret_paths
    expected = repository_content.content_digest(repository_content.collect(content_spec(catalog, "platform")))
    assert content.inputs["digest"] == expected
    assert content.inputs["catalog_root"] == str(catalog) and content.inputs["layout"] == "services"
    assert content.inputs["path_prefix"] == "platform"
    assert "pw" not in json.dumps({k: v for k, v in content.inputs.items() if k not in SECRET_KEYS})


def test_component_path_follows_prefix_and_cluster(program) -> None:
    made: list[ManagementRepository] = []
    program(lambda: made.append(_component(prefix="platform")))
    assert made[0].path == "./platform/clusters/mgmt"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"notes.txt": "x"}, r"kommander:applicationsPath: .*no recognizable application layout"),
        ({"applications/podinfo/1.0.0/x.yaml": "a: 1\n"}, r"kommander:applicationsPath: .*no application"),
    ],
)
def test_bad_applications_path_is_a_config_error(tmp_path, files, message) -> None:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    with pytest.raises(config.ConfigError, match=message):
        stack_plan.build(config.parse({"applicationsPath": str(tmp_path)}))


def test_a_missing_applications_path_is_a_config_error(tmp_path) -> None:
    with pytest.raises(config.ConfigError, match=r"kommander:applicationsPath: .*is not a directory"):
        config.parse({"applicationsPath": str(tmp_path / "nope")})


# --------------------------------------------------------------------------- reaching Gitea through the API server


@pytest.fixture
def kube(git_server: Any) -> Iterator[FakeKube]:
    with gitea_api_server(git_server) as fake:
        yield fake


def test_create_and_update_push_through_a_port_forward(git_server, catalog, age, kube) -> None:
    provider = RepositoryProvider()
    p = forwarded(git_server, catalog, kube, age)
    created = provider.create(p)
    assert created.outs["committed"] is True and commits(git_server.bare()) == 1
    assert created.id == f"{IN_CLUSTER_REPO}#main"
    assert {s[:2] for s in kube.streams} == {("kommander", "gitea-0")}
    # the cluster's credentials are an input only: not in the outputs (nor in the state's outputs)
    assert "kubernetes" not in created.outs and kube.token not in json.dumps(created.outs)
    assert created.outs["forward"] == FORWARD and created.outs["url"] == IN_CLUSTER_REPO
    again = provider.update(created.id, created.outs, p)
    assert again.outs["committed"] is False and commits(git_server.bare()) == 1
    # a refresh reads the branch through the same port-forward, with the stack's kubernetes config
    # (tests/test_publisher_refresh.py: drift)
    from pulumi.dynamic import ConfigureRequest
    from pulumi.dynamic.config import Config

    provider.configure(ConfigureRequest(Config({"kubernetes:kubeconfig": kube.kubeconfig()}, "kommander")))
    before = len(kube.requests)
    assert provider.read(created.id, created.outs).outs == created.outs and len(kube.requests) > before


def test_a_port_forward_that_fails_is_named_with_its_cause(git_server, catalog, age, kube) -> None:
    import traceback

    from fakekube import GITEA_LABELS, pod

    from components.portforward import PortForwardError

    provider = RepositoryProvider()
    p = forwarded(git_server, catalog, kube, age)
    kube.pods.clear()
    with pytest.raises(PortForwardError) as err:
        provider.create(p)
    assert str(err.value).startswith("no ready pod behind service kommander/gitea-http (selector ")
    kube.pods[("kommander", "gitea-0")] = pod("gitea-0", GITEA_LABELS, ports={"http": 3000})
    kube.forbid_portforward = True
    with pytest.raises(gitrepo.GitRepoError) as refused:
        provider.create(p)
    assert str(refused.value) == (
        f"{IN_CLUSTER_REPO} (through a port-forward to pod kommander/gitea-0) (branch main): the Git server is "
        "unreachable (ls-remote failed); port-forward: pod kommander/gitea-0 port 3000: Handshake status 403 "
        'Forbidden: pods "gitea-0" is forbidden: portforward'
    )
    for exc in (err.value, refused.value):
        text = "".join(traceback.format_exception(exc))  # what the provider host sends the engine
        assert kube.token not in text and git_server.password not in text and "\n" not in str(exc)
    assert git(git_server.bare(), "branch", "--list").strip() == "", "nothing was pushed"


def _forwarding_component(kubernetes: config.KubernetesTarget, forward: Any = FORWARD) -> ManagementRepository:
    return ManagementRepository(
        "repo",
        ManagementRepositoryArgs(
            url=IN_CLUSTER_REPO,
            username="kommander-admin",
            password=pulumi.Output.secret("pw"),
            recipient="age1xyz",
            age_identity=pulumi.Output.secret("AGE-SECRET-KEY-1XYZ"),
            settings=config.Gitea(),
            cluster_name="mgmt",
            kommander_namespace="kommander",
            content=content_spec(),
            digest="d",
            forward=forward,
            kubernetes=kubernetes,
        ),
    )


KUBECONFIG_CANARY = "apiVersion: v1\nusers: [{name: u, user: {token: kubeconfig-canary-token}}]\n"


def test_the_cluster_target_is_one_secret_input(program) -> None:
    target = config.KubernetesTarget(kubeconfig=SecretStr(KUBECONFIG_CANARY), context="prod-mgmt")
    graph = program(lambda: _forwarding_component(target))
    content = graph.one("pulumi-python:dynamic:Resource", "repo-content")
    assert content.inputs["forward"] == FORWARD and "forward" not in content.secret_paths
    assert content.inputs["kubernetes"] == {"kubeconfig": KUBECONFIG_CANARY, "context": "prod-mgmt"}
    assert "kubernetes" in content.secret_paths
    public = {k: v for k, v in content.inputs.items() if k not in content.secret_paths}
    assert "kubeconfig-canary-token" not in json.dumps(public) and "prod-mgmt" not in json.dumps(public)
    # neither set: still one secret, empty (the provider then reads $KUBECONFIG or ~/.kube/config)
    graph = program(lambda: _forwarding_component(config.KubernetesTarget()))
    content = graph.one("pulumi-python:dynamic:Resource", "repo-content")
    assert content.inputs["kubernetes"] == {"kubeconfig": "", "context": ""} and "kubernetes" in content.secret_paths


def test_with_an_external_url_neither_the_service_nor_the_cluster_is_passed(program) -> None:
    target = config.KubernetesTarget(kubeconfig=SecretStr(KUBECONFIG_CANARY))
    graph = program(lambda: _forwarding_component(target, forward=None))
    content = graph.one("pulumi-python:dynamic:Resource", "repo-content")
    assert "forward" not in content.inputs and "kubernetes" not in content.inputs
    assert "kubeconfig-canary-token" not in json.dumps(content.inputs)


@pytest.mark.parametrize(
    ("stack_keys", "secret_keys", "expected"),
    [
        ({"kubernetes:kubeconfig": KUBECONFIG_CANARY}, ["kubernetes:kubeconfig"], KUBECONFIG_CANARY),
        ({"kubernetes:kubeconfig": "~/.kube/mgmt", "kubernetes:context": "mgmt"}, [], "~/.kube/mgmt"),
        ({}, [], ""),
    ],
)
def test_the_program_passes_the_stacks_kubernetes_target_as_a_secret(program, stack_keys, secret_keys, expected):
    import runpy

    from support import ROOT, stack_config

    cfg = {**stack_config("dev"), **stack_keys}
    graph = program(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=cfg, secret_keys=secret_keys)
    content = graph.one("pulumi-python:dynamic:Resource", "kommander-management-repository-content")
    assert content.inputs["kubernetes"] == {
        "kubeconfig": expected,
        "context": stack_keys.get("kubernetes:context", ""),
    }
    assert "kubernetes" in content.secret_paths
    for r in graph:  # the kubeconfig is nowhere else, and nowhere in plaintext
        public = {k: v for k, v in r.inputs.items() if k not in r.secret_paths}
        assert "kubeconfig-canary-token" not in json.dumps(public), r.name
    assert "kubeconfig-canary-token" not in json.dumps(graph.outputs)


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_can_publish_on_its_first_up(stack: str) -> None:
    """On a first ``up`` the publisher pushes before Flux has deployed any ingress controller (Traefik's
    AppDeployment waits for the push): a URL it pushes to directly is served only if an object the push
    waits for serves it. Otherwise it must go through the API server (``forward``)."""
    graph = stack_graph(stack)
    content = graph.one("pulumi-python:dynamic:Resource", "kommander-management-repository-content")
    if "forward" in content.inputs:
        forward = content.inputs["forward"]
        assert content.inputs["url"].startswith(f"http://{forward['name']}.{forward['namespace']}.svc")
        return
    host = urlsplit(content.inputs["url"]).hostname
    serving = [
        r
        for r, obj in graph.k8s_objects()
        if obj["kind"] == "Ingress"
        and host in [rule.get("host") for rule in obj.get("spec", {}).get("rules", [])]
        and graph.depends_on(content, r)
    ]
    assert serving, (
        f"Pulumi.{stack}.yaml: the publisher pushes to {content.inputs['url']}, which nothing it waits for serves"
    )
