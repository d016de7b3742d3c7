"""portforward: the relay carries real Git traffic; the pod behind the Service; the kubeconfig; no credential leaks.

Two stand-ins, since there is no kubelet here:

* :class:`SocketPairStream` has the interface the relay uses of the Kubernetes client's
  ``PortForward`` (``socket(port)``, ``error(port)``, ``close()``, a socketpair behind the
  socket, as the client's has); the test pipes its far end to the Git server, as the API
  server and kubelet would pipe the stream to the pod;
* ``tests/fakekube.py`` answers the real Kubernetes client (REST and the websocket
  port-forward protocol), so :func:`portforward.forward` runs with the client's own
  ``PortForward`` object and its proxy thread.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import subprocess
import tempfile
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
import pytest
import yaml
from fakekube import GITEA_LABELS, FakeKube, gitea_cluster, pod

from components import gitrepo, portforward
from components.portforward import PortForwardError, Relay, Service, Target

GITEA = Service("kommander", "gitea-http", 3000)
LABELS = GITEA_LABELS


def git_cmd(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def address(server: Any) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


class SocketPairStream:
    """The client's ``PortForward`` as the relay uses it, for one port; the far end goes to ``upstream``."""

    def __init__(self, port: int, upstream: tuple[str, int] | None, error: str | None = None) -> None:
        self.port = port
        self._error = error
        self.closed = False
        self._near, far = socket.socketpair()
        if upstream is None:  # the pod refused: the client closes the data socket after the error frame
            far.close()
            return
        pod_side = socket.create_connection(upstream)

        def pipe(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pipe, args=(far, pod_side), daemon=True).start()
        threading.Thread(target=pipe, args=(pod_side, far), daemon=True).start()

    def socket(self, port_number: int) -> socket.socket:
        if port_number != self.port:
            raise ValueError("Invalid port number")
        return self._near

    def error(self, port_number: int) -> str | None:
        return self._error

    def close(self) -> None:
        self.closed = True
        self._near.close()


def push_with_gitpython(tmp_path: Path, url: str, server: Any) -> str:
    """Commit one file and ``git push`` it with GitPython (credentials as a header, as the publisher sends them)."""
    repo = git.Repo.init(tmp_path / "work", initial_branch="main")
    (tmp_path / "work" / "README.md").write_text("pushed through the relay\n")
    repo.index.add(["README.md"])
    who = git.Actor("Test", "test@localhost")
    commit = repo.index.commit("first", author=who, committer=who)
    env = gitrepo.Remote(url, server.username, server.password).env()
    with repo.git.custom_environment(**env):
        repo.git.push(url, "main:main")
    return commit.hexsha


# --------------------------------------------------------------------------- the relay


def test_relay_carries_a_git_push_one_stream_per_connection(git_server, tmp_path) -> None:
    git_server.create()
    opened: list[SocketPairStream] = []

    def open_stream() -> SocketPairStream:
        opened.append(SocketPairStream(3000, address(git_server)))
        return opened[-1]

    relay = Relay(open_stream, 3000)
    try:
        assert relay.url.startswith("http://127.0.0.1:")
        head = push_with_gitpython(tmp_path, f"{relay.url}/kommander-admin/kommander.git", git_server)
    finally:
        relay.close()
    assert git_cmd(git_server.bare(), "rev-parse", "main").strip() == head
    assert git_cmd(git_server.bare(), "show", "main:README.md") == "pushed through the relay\n"
    assert "POST /kommander-admin/kommander.git/git-receive-pack" in git_server.requests
    # every connection Git opened had its own stream, and each was closed
    assert relay.streams == len(opened) >= 2 and all(s.closed for s in opened)
    assert relay.errors == []
    assert refused(relay.url), "the listener is gone once the relay is closed"


def test_relay_records_what_the_pod_side_reports_and_git_fails_as_unreachable(git_server) -> None:
    message = "error forwarding port 3000 to pod gitea-0, uid : dial tcp4 127.0.0.1:3000: connect: connection refused"
    relay = Relay(lambda: SocketPairStream(3000, None, error=message), 3000)
    try:
        remote = gitrepo.Remote(f"{relay.url}/kommander-admin/kommander.git", "u", "p", label="gitea")
        with pytest.raises(gitrepo.GitRepoError, match=r"^gitea \(branch main\): the Git server is unreachable"):
            gitrepo.publish(remote, {"a": b"1"})
    finally:
        relay.close()
    assert relay.errors == [message]


def test_relay_records_a_stream_that_cannot_be_opened() -> None:
    def cannot() -> SocketPairStream:
        raise RuntimeError("Handshake status 403 Forbidden")

    relay = Relay(cannot, 3000, describe=lambda exc: f"pod kommander/gitea-0 port 3000: {exc}")
    try:
        with socket.create_connection(("127.0.0.1", int(relay.url.rsplit(":", 1)[1]))) as conn:
            assert conn.recv(10) == b"", "the connection is closed, nothing relayed"
    finally:
        relay.close()
    assert relay.errors == ["pod kommander/gitea-0 port 3000: Handshake status 403 Forbidden"]


# --------------------------------------------------------------------------- through the real client


@pytest.fixture
def kube(git_server) -> Iterator[FakeKube]:
    """Gitea's Service (port 3000 -> the pods' port named ``http``) with one ready pod; its port is the Git server."""
    fake = gitea_cluster(address(git_server))
    try:
        yield fake
    finally:
        fake.stop()


def test_forward_reaches_the_service_through_the_api_server(kube, git_server) -> None:
    url = git_server.create()
    with portforward.forward(GITEA, Target(kubeconfig=kube.kubeconfig())) as tunnel:
        assert tunnel.pod == "kommander/gitea-0" and tunnel.url.startswith("http://127.0.0.1:")
        remote = gitrepo.Remote(tunnel.url + "/kommander-admin/kommander.git", git_server.username, git_server.password)
        published = gitrepo.publish(remote, {"a.yaml": b"a: 1\n"})
        assert tunnel.errors == []
    assert published.committed and git_cmd(git_server.bare(), "show", "main:a.yaml") == "a: 1\n"
    assert url.endswith("/kommander-admin/kommander.git")
    # kubectl's path: the Service, its pods by selector, then one port-forward stream per connection
    paths = [path for _, path, _ in kube.requests]
    assert paths[:2] == [
        "/api/v1/namespaces/kommander/services/gitea-http",
        "/api/v1/namespaces/kommander/pods?labelSelector="
        "app.kubernetes.io/instance%3Dgitea%2Capp.kubernetes.io/name%3Dgitea",
    ]
    assert set(paths[2:]) == {"/api/v1/namespaces/kommander/pods/gitea-0/portforward?ports=3000"}
    assert len(kube.streams) == len(paths) - 2 >= 2
    # the token went as a header, never in a URL
    assert all(headers.get("authorization") == f"Bearer {kube.token}" for _, _, headers in kube.requests)
    assert not any(kube.token in path for path in paths)
    assert refused(tunnel.url)


def test_the_ready_pod_and_the_named_target_port_are_resolved_as_kubectl_does(kube, git_server) -> None:
    git_server.create()
    deleting = pod("gitea-a", LABELS, ports={"http": 3001})
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    kube.pods = {
        ("kommander", "gitea-a"): deleting,
        ("kommander", "gitea-b"): pod("gitea-b", LABELS, ready=False, ports={"http": 3001}),
        ("kommander", "gitea-c"): pod("gitea-c", LABELS, ports={"ssh": 22, "http": 3001}),
        ("kommander", "other"): pod("other", {"app": "other"}, ports={"http": 3001}),
        ("elsewhere", "gitea-0"): pod("gitea-0", LABELS, ports={"http": 3001}),
    }
    kube.backends = {("kommander", "gitea-c", 3001): address(git_server)}
    with portforward.forward(GITEA, Target(kubeconfig=kube.kubeconfig())) as tunnel:
        gitrepo.publish(gitrepo.Remote(tunnel.url + "/kommander-admin/kommander.git", "kommander-admin",
                                       git_server.password), {"a": b"1"})  # fmt: skip
    assert tunnel.pod == "kommander/gitea-c"
    assert set(kube.streams) == {("kommander", "gitea-c", 3001)}, "the container port behind targetPort 'http'"


def one_line_error(target: Target) -> str:
    with pytest.raises(PortForwardError) as err, portforward.forward(GITEA, target):
        pass
    text = str(err.value)
    assert "\n" not in text
    return text


def test_a_missing_service_is_named(kube) -> None:
    del kube.services[("kommander", "gitea-http")]
    assert one_line_error(Target(kubeconfig=kube.kubeconfig())) == (
        "service kommander/gitea-http does not exist (is Gitea installed in kommander?)"
    )


def test_no_ready_pod_behind_the_service_is_named(kube) -> None:
    kube.pods = {("kommander", "gitea-0"): pod("gitea-0", LABELS, ready=False)}
    assert one_line_error(Target(kubeconfig=kube.kubeconfig())) == (
        "no ready pod behind service kommander/gitea-http (selector "
        "app.kubernetes.io/instance=gitea,app.kubernetes.io/name=gitea; 1 pod(s), none ready): is Gitea running?"
    )
    kube.pods = {}
    assert "no ready pod behind service kommander/gitea-http" in one_line_error(Target(kubeconfig=kube.kubeconfig()))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"ports": [{"port": 3000, "targetPort": 3000}]}, "service kommander/gitea-http has no selector"),
        (
            {"selector": LABELS, "ports": [{"port": 80, "targetPort": 3000}]},
            "service kommander/gitea-http has no port 3000 (its ports: 80)",
        ),
        (
            {"selector": LABELS, "ports": [{"port": 3000, "targetPort": "web"}]},
            "service kommander/gitea-http targets the port named 'web', which pod kommander/gitea-0 does not declare",
        ),
    ],
)
def test_a_service_that_leads_to_no_port_is_named(kube, spec: dict, message: str) -> None:
    kube.services[("kommander", "gitea-http")]["spec"] = spec
    assert one_line_error(Target(kubeconfig=kube.kubeconfig())).startswith(message)


def test_a_forbidden_port_forward_is_recorded_with_the_api_servers_reason(kube, git_server) -> None:
    git_server.create()
    kube.forbid_portforward = True
    with portforward.forward(GITEA, Target(kubeconfig=kube.kubeconfig())) as tunnel:
        remote = gitrepo.Remote(tunnel.url + "/kommander-admin/kommander.git", "u", "p")
        with pytest.raises(gitrepo.GitRepoError, match="unreachable"):
            gitrepo.publish(remote, {"a": b"1"})
    assert tunnel.errors == [
        'pod kommander/gitea-0 port 3000: Handshake status 403 Forbidden: pods "gitea-0" is forbidden: portforward'
    ]
    # a server that echoes the credentials it was sent: they are scrubbed from what is recorded
    kube.echo_credentials = True
    with portforward.forward(GITEA, Target(kubeconfig=kube.kubeconfig())) as echoed:
        remote = gitrepo.Remote(echoed.url + "/kommander-admin/kommander.git", "u", "p")
        with pytest.raises(gitrepo.GitRepoError, match="unreachable"):
            gitrepo.publish(remote, {"a": b"1"})
    assert echoed.errors == [
        'pod kommander/gitea-0 port 3000: Handshake status 403 Forbidden: pods "gitea-0" is forbidden: portforward '
        "(request: ***)"
    ]


# --------------------------------------------------------------------------- the kubeconfig


def test_kubeconfig_as_a_path_content_or_the_current_context(kube, tmp_path, monkeypatch) -> None:
    text = kube.kubeconfig()
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    two = yaml.safe_load(kube.kubeconfig(context="mgmt"))
    two["contexts"].append({"name": "other", "context": {"cluster": "fake", "user": "nobody"}})
    two["users"].append({"name": "nobody", "user": {"token": "not-the-token"}})
    (tmp_path / "two").write_text(yaml.safe_dump({**two, "current-context": "other"}))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "two"))
    for target in (
        Target(kubeconfig=text),
        Target(kubeconfig=str(path)),
        Target(kubeconfig=str(path), context="fake"),
        Target(context="mgmt"),  # $KUBECONFIG, whose current context is `other`
    ):
        with portforward.forward(GITEA, target) as tunnel:
            assert tunnel.pod == "kommander/gitea-0"
    # neither: $KUBECONFIG's current context (`other`, whose token the server refuses)
    assert one_line_error(Target()) == "reading service kommander/gitea-http failed: 401 Unauthorized: Unauthorized"
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    assert one_line_error(Target()) == (
        "no kubeconfig in $KUBECONFIG: set kubernetes:kubeconfig (or $KUBECONFIG); "
        "the publisher reaches Gitea through the Kubernetes API"
    )


CREDENTIALS = ("sEcReT-ToKeN-4242", "c2VjcmV0LWtleS1kYXRh", "secret-key-data", "hunter2-password")


def leaky_kubeconfig(server: str, context: str = "ctx") -> str:
    """A kubeconfig whose every credential is a canary."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "users": [
                {"name": "t", "user": {"token": CREDENTIALS[0]}},
                {"name": "k", "user": {"client-certificate-data": "Y2VydA==", "client-key-data": CREDENTIALS[1]}},
                {"name": "p", "user": {"username": "admin", "password": CREDENTIALS[3]}},
            ],
            "contexts": [
                {"name": "ctx", "context": {"cluster": "c", "user": "t"}},
                {"name": "basic", "context": {"cluster": "c", "user": "p"}},
            ],
            "current-context": context,
        }
    )


def assert_no_credentials(exc: BaseException) -> None:
    """Neither the message nor the traceback the provider host sends to the engine holds a credential."""
    text = "".join(traceback.format_exception(exc))
    for secret in CREDENTIALS:
        assert secret not in text
    assert base64.b64encode(b"admin:" + CREDENTIALS[3].encode()).decode() not in text


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            Target(kubeconfig=f"users: [{{user: {{token: {CREDENTIALS[0]}}}}}]\n  - broken: ["),
            "kubernetes:kubeconfig is neither the path of an existing file nor kubeconfig YAML",
        ),
        (Target(kubeconfig=CREDENTIALS[0]), "kubernetes:kubeconfig is neither the path of an existing file"),
        (
            Target(kubeconfig=leaky_kubeconfig("http://127.0.0.1:9"), context="nope"),
            "kubernetes:kubeconfig (context nope): not a usable kubeconfig: Invalid kube-config file. "
            "Expected object with name nope in kube-config/contexts list",
        ),
        (
            Target(kubeconfig=leaky_kubeconfig("http://127.0.0.1:9")),
            "reading service kommander/gitea-http failed: the Kubernetes API server http://127.0.0.1:9 is "
            "unreachable (MaxRetryError)",
        ),
        (
            Target(kubeconfig=leaky_kubeconfig("https://127.0.0.1:9", context="basic")),
            "reading service kommander/gitea-http failed: the Kubernetes API server https://127.0.0.1:9 is unreachable",
        ),
    ],
)
def test_kubeconfig_errors_are_one_line_and_hold_no_credential(target: Target, message: str) -> None:
    with pytest.raises(PortForwardError) as err, portforward.forward(GITEA, target):
        pass
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert_no_credentials(err.value)


def test_a_refused_token_is_named_without_the_token(kube) -> None:
    with (
        pytest.raises(PortForwardError) as err,
        portforward.forward(GITEA, Target(kubeconfig=leaky_kubeconfig(kube.url))),
    ):
        pass
    assert str(err.value) == "reading service kommander/gitea-http failed: 401 Unauthorized: Unauthorized"
    assert_no_credentials(err.value)
    assert kube.requests[0][2]["authorization"] == f"Bearer {CREDENTIALS[0]}", "the token was sent, as a header"


def test_inline_client_keys_live_in_a_private_directory_for_one_forward_only(tmp_path, monkeypatch) -> None:
    """The client writes inline certificates and keys to files, and caches those files by content: each
    forward's go to its own directory, removed when it ends, and a later one gets fresh files."""
    doc = yaml.safe_load(leaky_kubeconfig("https://127.0.0.1:9"))
    doc["contexts"][0]["context"]["user"] = "k"  # the client-certificate user
    target = Target(kubeconfig=yaml.safe_dump(doc))
    for run in ("first", "second"):
        workdir = tmp_path / run
        workdir.mkdir()
        configuration, _ = portforward.client_configuration(target, str(workdir))
        key = Path(configuration.key_file)
        assert key.parent == workdir and key.read_bytes() == base64.b64decode(CREDENTIALS[1])
        assert key.stat().st_mode & 0o077 == 0, "readable by its owner only"
        portforward._forget_temp_files(str(workdir))
        for f in workdir.iterdir():
            f.unlink()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with pytest.raises(PortForwardError, match="unreachable") as err, portforward.forward(GITEA, target):
        pass
    assert_no_credentials(err.value)
    assert list((tmp_path / "tmp").iterdir()) == [], "forward() removed its directory"
