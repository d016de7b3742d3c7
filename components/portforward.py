"""Reach a Service inside the cluster through the Kubernetes API, as ``kubectl port-forward svc/<name>`` does.

The repository publisher runs outside the cluster (a laptop, CI) and has to push to Gitea
before anything exposes it (no ingress controller yet, no node port mapped): the only
way in is the API server. This module has no Pulumi in it:

* :class:`Target` is the stack's Kubernetes target as the Kubernetes provider reads it
  (``kubernetes:kubeconfig``, a path or the content, and ``kubernetes:context``; neither
  means ``$KUBECONFIG`` or ``~/.kube/config`` at its current context);
* :func:`service_pod` resolves a ready Pod behind the Service (its selector) and the
  container port the Service's port targets, as kubectl does;
* :class:`Relay` listens on ``127.0.0.1:<ephemeral>`` and relays each accepted connection
  through its own ``pods/portforward`` stream (the Kubernetes client's websocket
  ``PortForward``, one per connection, as kubectl opens one stream per connection);
* :func:`forward` ties them together for the duration of a ``with`` block.

Credentials stay in the client's configuration: never in a URL, a log line or a message
this module raises or records (every message is scrubbed of the target's credentials).
The client writes client certificates and keys it is given inline to temporary files;
they live in a private directory removed when the ``with`` block ends.
"""

from __future__ import annotations

import json
import os
import re
import select
import selectors
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import yaml

#: Seconds an API request (not the forwarded stream) may take.
REQUEST_TIMEOUT = 30


class PortForwardError(Exception):
    """The Service cannot be reached through the API server; the message says why (never with credentials)."""


@dataclass(frozen=True)
class Target:
    """Which cluster, with which credentials: the stack's ``kubernetes:kubeconfig`` and ``kubernetes:context``."""

    kubeconfig: str = field(default="", repr=False)
    """A path to a kubeconfig file or a kubeconfig's content; empty: ``$KUBECONFIG``, else ``~/.kube/config``."""
    context: str = ""
    """A context of that kubeconfig; empty: its current context."""


@dataclass(frozen=True)
class Service:
    """A Service port to forward to."""

    namespace: str
    name: str
    port: int
    """The Service's port (``spec.ports[].port``), not the container's."""

    def __str__(self) -> str:
        return f"service {self.namespace}/{self.name}"


class Stream(Protocol):
    """What the relay uses of the client's ``kubernetes.stream.ws_client.PortForward``."""

    def socket(self, port_number: int) -> Any: ...

    def error(self, port_number: int) -> str | None: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- the client


class _Scrubber:
    """Removes every credential of a target from a text."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add(self, *values: Any) -> None:
        for value in values:
            if isinstance(value, str) and len(value) >= 6:
                self.secrets.add(value)
                if value.lower().startswith(("bearer ", "basic ")):
                    self.secrets.add(value.split(" ", 1)[1])

    def add_leaves(self, node: Any) -> None:
        if isinstance(node, Mapping):
            for value in node.values():
                self.add_leaves(value)
        elif isinstance(node, list):
            for value in node:
                self.add_leaves(value)
        else:
            self.add(node)

    def add_users(self, kubeconfig: Mapping[str, Any]) -> None:
        """The credentials of a kubeconfig's users: tokens, passwords, keys, auth-provider and exec env values."""
        for entry in kubeconfig.get("users") or []:
            user = (entry or {}).get("user") or {} if isinstance(entry, Mapping) else {}
            if not isinstance(user, Mapping):
                continue
            self.add(user.get("token"), user.get("password"), user.get("client-key-data"))
            self.add_leaves(user.get("auth-provider"))
            for env in (user.get("exec") or {}).get("env") or []:
                self.add_leaves((env or {}).get("value"))

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " ".join(lines)[:300] or "no detail"


def _describe(target: Target) -> str:
    where = "kubernetes:kubeconfig" if target.kubeconfig else ("$KUBECONFIG" if os.environ.get("KUBECONFIG") else "")
    where = where or "~/.kube/config"
    return f"{where} (context {target.context})" if target.context else where


def _path_or_content(value: str) -> tuple[str | None, dict[str, Any] | None]:
    """Like the Kubernetes provider: an existing file's path (``~`` expanded), else the kubeconfig's content."""
    if "\n" not in value:
        try:
            path = Path(value).expanduser()
            if path.is_file():
                return str(path), None
        except (OSError, ValueError):
            pass
    try:
        doc = yaml.safe_load(value)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict):
        raise PortForwardError(
            "kubernetes:kubeconfig is neither the path of an existing file nor kubeconfig YAML "
            "(the value is not shown: it may hold credentials)"
        )
    return None, doc


def _documents(files: str) -> Iterator[dict[str, Any]]:
    """The kubeconfig files of a ``$KUBECONFIG``-style list that exist and parse."""
    for part in files.split(os.pathsep):
        try:
            doc = yaml.safe_load(Path(part).expanduser().read_text())
        except (OSError, ValueError, yaml.YAMLError):
            continue
        if isinstance(doc, dict):
            yield doc


def client_configuration(target: Target, workdir: str) -> tuple[Any, _Scrubber]:
    """The client's ``Configuration`` for ``target`` (temporary files under ``workdir``) and its scrubber."""
    from kubernetes import client
    from kubernetes.config import kube_config
    from kubernetes.config.config_exception import ConfigException

    scrub = _Scrubber()
    configuration = client.Configuration()
    path, doc = _path_or_content(target.kubeconfig) if target.kubeconfig else (None, None)
    # read $KUBECONFIG now: the client reads it once, when first imported
    files = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
    for found in [doc] if doc is not None else _documents(files):
        scrub.add_users(found)
    context = target.context or None
    try:
        if doc is not None:
            kube_config.load_kube_config_from_dict(
                doc, context=context, client_configuration=configuration, persist_config=False, temp_file_path=workdir
            )
        else:
            kube_config.load_kube_config(
                config_file=files,
                context=context,
                client_configuration=configuration,
                persist_config=False,
                temp_file_path=workdir,
            )
    except (ConfigException, OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        if "No configuration found" in str(exc):
            raise PortForwardError(
                f"no kubeconfig in {_describe(target)}: set kubernetes:kubeconfig (or $KUBECONFIG); "
                "the publisher reaches Gitea through the Kubernetes API"
            ) from None
        raise PortForwardError(f"{_describe(target)}: not a usable kubeconfig: {scrub(_one_line(str(exc)))}") from None
    scrub.add(configuration.password, *configuration.api_key.values())
    return configuration, scrub


def _server(configuration: Any) -> str:
    """The API server's address as scheme://host:port (no user info)."""
    parts = urlsplit(str(configuration.host))
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _api_error(exc: Exception, scrub: _Scrubber, configuration: Any) -> str:
    """One line: the API server's own message for an HTTP error, else what failed to connect."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        message = ""
        with suppress(ValueError, AttributeError):
            message = str(json.loads(exc.body or "{}").get("message") or "")
        return scrub(_one_line(f"{exc.status} {exc.reason}" + (f": {message}" if message else "")))
    return f"the Kubernetes API server {_server(configuration)} is unreachable ({type(exc).__name__})"


def _stream_error(exc: BaseException) -> str:
    """What went wrong opening or on a stream, in one line.

    The client wraps a refused websocket handshake as ``ApiException(reason="Handshake status
    403 Forbidden -+-+- <response headers> -+-+- <response body>")``: keep the status and the
    API server's ``Status`` message, not the headers.
    """
    reason = str(getattr(exc, "reason", None) or exc)
    head, sep, rest = reason.partition(" -+-+- ")
    if not sep:
        return head
    found = re.search(r'"message":\s*"((?:[^"\\]|\\.)*)"', rest.partition(" -+-+- ")[2])
    return f"{head}: {found.group(1).replace(chr(92), '')}" if found else head


# --------------------------------------------------------------------------- the pod behind the Service


def _ready(pod: Mapping[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )


def pick_pod(service: Service, svc: Mapping[str, Any], pods: list[Mapping[str, Any]]) -> tuple[str, int]:
    """The ready Pod the Service routes to (first by name) and the container port its port targets (pure)."""
    spec = svc.get("spec") or {}
    selector: Mapping[str, str] = spec.get("selector") or {}
    if not selector:
        raise PortForwardError(f"{service} has no selector, so no pod to forward to")
    ports = spec.get("ports") or []
    entry = next((p for p in ports if p.get("port") == service.port), None)
    if entry is None:
        known = ", ".join(str(p.get("port")) for p in ports) or "none"
        raise PortForwardError(f"{service} has no port {service.port} (its ports: {known})")
    shown = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    ready = sorted((p for p in pods if _ready(p)), key=lambda p: str(p["metadata"]["name"]))
    if not ready:
        raise PortForwardError(
            f"no ready pod behind {service} (selector {shown}; {len(pods)} pod(s), none ready): is Gitea running?"
        )
    pod = ready[0]
    name = str(pod["metadata"]["name"])
    target = entry.get("targetPort", service.port)
    if isinstance(target, int):
        return name, target
    if isinstance(target, str) and target.isdigit():
        return name, int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return name, int(port["containerPort"])
    raise PortForwardError(
        f"{service} targets the port named {target!r}, which pod {service.namespace}/{name} does not declare"
    )


def service_pod(api: Any, service: Service, scrub: _Scrubber) -> tuple[str, int]:
    """Read the Service and its pods through ``api`` (a ``CoreV1Api``); see :func:`pick_pod`."""
    from kubernetes.client.exceptions import ApiException

    configuration = api.api_client.configuration
    try:
        raw = api.read_namespaced_service(
            service.name, service.namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        )
        svc = json.loads(raw.data)
    except ApiException as exc:
        if exc.status == 404:
            raise PortForwardError(f"{service} does not exist (is Gitea installed in {service.namespace}?)") from None
        raise PortForwardError(f"reading {service} failed: {_api_error(exc, scrub, configuration)}") from None
    except Exception as exc:  # urllib3 connection errors, TLS
        raise PortForwardError(f"reading {service} failed: {_api_error(exc, scrub, configuration)}") from None
    selector = (svc.get("spec") or {}).get("selector") or {}
    pods: list[Mapping[str, Any]] = []
    if selector:
        try:
            raw = api.list_namespaced_pod(
                service.namespace,
                label_selector=",".join(f"{k}={v}" for k, v in sorted(selector.items())),
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
            pods = json.loads(raw.data).get("items") or []
        except Exception as exc:
            raise PortForwardError(
                f"listing the pods behind {service} failed: {_api_error(exc, scrub, configuration)}"
            ) from None
    return pick_pod(service, svc, pods)


# --------------------------------------------------------------------------- the relay


def _pump(local: Any, remote: Any) -> None:
    """Copy bytes both ways until either side closes."""
    other = {id(local): remote, id(remote): local}
    while True:
        readable, _, _ = select.select([local, remote], [], [])
        for src in readable:
            try:
                data = src.recv(65536)
                if not data:
                    return
                other[id(src)].sendall(data)
            except OSError:
                return


class Relay:
    """A listener on ``127.0.0.1:<ephemeral>`` relaying each accepted connection through its own stream.

    ``open_stream`` opens one port-forward stream (the client's ``PortForward``, or anything
    with its ``socket``/``error``/``close``) to ``port`` of the pod. What goes wrong on a
    stream (it cannot be opened, the pod refuses the port) is recorded in :attr:`errors`,
    one line each, through ``describe``.
    """

    def __init__(
        self, open_stream: Callable[[], Stream], port: int, describe: Callable[[BaseException], str] = str
    ) -> None:
        self._open = open_stream
        self._port = port
        self._describe = describe
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        """``http://127.0.0.1:<ephemeral>``: where the relay listens."""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._workers: list[threading.Thread] = []
        self.errors: list[str] = []
        """What went wrong on streams, in order."""
        self.streams = 0
        """How many streams were asked for: one per accepted connection."""
        self._thread = threading.Thread(target=self._accept, name=f"port-forward :{port}", daemon=True)
        self._thread.start()

    def _record(self, message: str) -> None:
        with self._lock:
            if message not in self.errors:
                self.errors.append(message)

    def _accept(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not sel.select(timeout=0.05):
                    continue
                try:
                    conn, _ = self._listener.accept()
                except OSError:
                    return
                worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                with self._lock:
                    self._connections.add(conn)
                    self._workers.append(worker)
                worker.start()

    def _serve(self, conn: socket.socket) -> None:
        stream: Stream | None = None
        try:
            with self._lock:
                self.streams += 1
            stream = self._open()
            _pump(conn, stream.socket(self._port))
        except Exception as exc:
            self._record(self._describe(exc))
        finally:
            if stream is not None:
                problem = stream.error(self._port)
                if problem:
                    self._record(self._describe(RuntimeError(problem)))
                stream.close()
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def close(self) -> None:
        """Stop accepting, end every relayed connection and its stream."""
        self._stop.set()
        self._thread.join()
        self._listener.close()
        with self._lock:
            connections, workers = list(self._connections), list(self._workers)
        for conn in connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for worker in workers:
            worker.join(timeout=5)


# --------------------------------------------------------------------------- all together


@dataclass(frozen=True)
class Forwarded:
    """A running port-forward (see :func:`forward`)."""

    url: str
    """``http://127.0.0.1:<ephemeral>``: the Service's port, for the duration of the ``with`` block."""
    pod: str
    """``<namespace>/<pod>`` it forwards to."""
    relay: Relay

    @property
    def errors(self) -> list[str]:
        return self.relay.errors


def _forget_temp_files(workdir: str) -> None:
    """Drop the client's cache entries for files under ``workdir`` (it reuses cached paths by content)."""
    from kubernetes.config import kube_config

    cache: dict[str, str] = getattr(kube_config, "_temp_files", {})
    for key, path in list(cache.items()):
        if os.path.dirname(path) == workdir:
            cache.pop(key, None)


@contextmanager
def forward(service: Service, target: Target) -> Iterator[Forwarded]:
    """Forward ``127.0.0.1:<ephemeral>`` to ``service`` through the API server of ``target``.

    Raises :class:`PortForwardError` (one line, naming the Service and namespace) when the
    kubeconfig is unusable, the API server cannot be read, the Service does not exist or
    no ready pod is behind it. Streams are opened per accepted connection; what fails
    there is in :attr:`Forwarded.errors`.
    """
    from kubernetes import client
    from kubernetes.stream import portforward

    with tempfile.TemporaryDirectory(prefix="kommander-kube-") as workdir:
        try:
            configuration, scrub = client_configuration(target, workdir)
            api = client.CoreV1Api(client.ApiClient(configuration))
            try:
                pod, port = service_pod(api, service, scrub)
                opening = threading.Lock()  # portforward() swaps the ApiClient's call_api while it connects

                def open_stream() -> Stream:
                    with opening:
                        stream: Stream = portforward(
                            api.connect_get_namespaced_pod_portforward, pod, service.namespace, ports=str(port)
                        )
                    return stream

                def describe(exc: BaseException) -> str:
                    return scrub(_one_line(f"pod {service.namespace}/{pod} port {port}: {_stream_error(exc)}"))

                relay = Relay(open_stream, port, describe)
                try:
                    yield Forwarded(relay.url, f"{service.namespace}/{pod}", relay)
                finally:
                    relay.close()
            finally:
                api.api_client.close()
        finally:
            _forget_temp_files(workdir)
