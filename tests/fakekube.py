"""A stand-in for the Kubernetes API server: Services, Pods and ``pods/portforward`` on 127.0.0.1.

:class:`FakeKube` answers, with bearer-token auth, what the repository publisher asks:

* ``GET /api/v1/namespaces/<ns>/services/<name>`` (a ``Status`` 404 when absent);
* ``GET /api/v1/namespaces/<ns>/pods?labelSelector=k=v,...``;
* ``GET /api/v1/namespaces/<ns>/pods/<pod>/portforward?ports=<port>`` upgraded to a
  websocket speaking the API server's port-forward protocol (``v4.channel.k8s.io``): a
  first frame on the data channel (0) and the error channel (1) carrying the port, then
  channel-0 frames both ways. What the kubelet would do inside the pod is done here: each
  stream opens a TCP connection to the address given for ``(pod, port)``; a pod port with
  no address gets the kubelet's error on channel 1.

It also serves what ``automation.ops`` reads and patches:

* custom objects: ``GET /apis/<group>/<version>/namespaces/<ns>/<plural>/<name>``, the lists
  ``GET /apis/<group>/<version>/<plural>`` and ``.../namespaces/<ns>/<plural>``, and
  ``PATCH`` with ``application/merge-patch+json`` (RFC 7386; a ``spec`` change bumps
  ``metadata.generation``), from :attr:`FakeKube.objects`;
* ``GET /api/v1/namespaces/<ns>/secrets/<name>`` from :attr:`FakeKube.secrets`;
* ``GET /api/v1/namespaces/<ns>/events?fieldSelector=involvedObject.kind=K,involvedObject.name=N``
  from :attr:`FakeKube.events`.

:attr:`FakeKube.forbid` holds ``(verb, resource)`` pairs (``("patch", "kustomizations")``) answered 403.

Objects are plain JSON, shaped as the API server returns them. There is no kubelet on
this machine, so nothing here proves a real pod's port-forward; it proves the client side.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BINARY, CLOSE = 0x2, 0x8


def frame(opcode: int, payload: bytes) -> bytes:
    """A server frame (unmasked)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack(">H", n)
    else:
        head += bytes([127]) + struct.pack(">Q", n)
    return head + payload


def read_frame(rfile: Any) -> tuple[int, bytes] | None:
    """A client frame (masked), or None at the end of the stream."""
    head = rfile.read(2)
    if len(head) < 2:
        return None
    opcode, n = head[0] & 0x0F, head[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", rfile.read(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", rfile.read(8))[0]
    mask = rfile.read(4) if head[1] & 0x80 else b""
    payload = rfile.read(n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return opcode, payload


def pod(name: str, labels: dict[str, str], *, ready: bool = True, ports: dict[str, int] | None = None) -> dict:
    """A Pod as the API server returns it (Running, Ready or not)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "containers": [
                {"name": "gitea", "ports": [{"name": k, "containerPort": v} for k, v in (ports or {}).items()]}
            ]
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def service(name: str, selector: dict[str, str], port: int, target: int | str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": target}]},
    }


def _status(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _field(obj: dict, path: str) -> Any:
    for part in path.split("."):
        obj = obj.get(part, {}) if isinstance(obj, dict) else {}
    return obj


def secret(name: str, namespace: str, data: dict[str, str]) -> dict:
    """A Secret as the API server returns it (``data`` base64-encoded)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def event(
    namespace: str, kind: str, name: str, reason: str, message: str, *, type: str = "Normal", time: str = ""
) -> dict:
    """An Event about the object ``kind``/``name`` in ``namespace`` (as Flux controllers record them)."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{abs(hash((reason, message, time))):x}", "namespace": namespace},
        "involvedObject": {"kind": kind, "name": name, "namespace": namespace},
        "reason": reason,
        "message": message,
        "type": type,
        "lastTimestamp": time or None,
        "source": {"component": "kustomize-controller"},
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    #: Headers and body go out as two writes: without TCP_NODELAY each answer waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        fake = self.server.fake
        fake.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.headers.get("Authorization") != f"Bearer {fake.token}":
            self._json(401, _status(401, "Unauthorized", "Unauthorized"))
            return False
        return True

    def _forbidden(self, verb: str, resource: str, name: str) -> bool:
        if (verb, resource) not in self.server.fake.forbid:
            return False
        message = f'{resource} "{name}" is forbidden: User "fake" cannot {verb} resource "{resource}"'
        self._json(403, _status(403, "Forbidden", message))
        return True

    def do_PATCH(self) -> None:
        fake = self.server.fake
        if not self._authorized():
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        segments = urlsplit(self.path).path.strip("/").split("/")
        if segments[0] != "apis" or len(segments) != 7 or segments[3] != "namespaces":
            self._json(404, _status(404, "NotFound", "the server could not find the requested resource"))
            return
        _, group, version, _, namespace, plural, name = segments
        if self._forbidden("patch", plural, name):
            return
        if self.headers.get("Content-Type") != "application/merge-patch+json":
            self._json(415, _status(415, "UnsupportedMediaType", f"unsupported {self.headers.get('Content-Type')}"))
            return
        with fake.lock:
            found = fake.objects.get((group, version, plural, namespace, name))
            if found is None:
                self._json(404, _status(404, "NotFound", f'{plural}.{group} "{name}" not found'))
                return
            patched = merge_patch(found, body)
            if patched.get("spec") != found.get("spec"):
                meta = patched.setdefault("metadata", {})
                meta["generation"] = int(meta.get("generation", 1)) + 1
            fake.objects[(group, version, plural, namespace, name)] = patched
            fake.patches.append((plural, namespace, name, body))
        self._json(200, patched)

    def _custom(self, segments: list[str]) -> None:
        fake = self.server.fake
        group, version = segments[1], segments[2]
        if len(segments) == 4:  # cluster-wide list
            plural, namespace, name = segments[3], None, None
        elif len(segments) in (6, 7) and segments[3] == "namespaces":
            namespace, plural = segments[4], segments[5]
            name = segments[6] if len(segments) == 7 else None
        else:
            self._json(404, _status(404, "NotFound", "the server could not find the requested resource"))
            return
        if self._forbidden("get" if name else "list", plural, name or ""):
            return
        with fake.lock:
            if name is not None:
                found = fake.objects.get((group, version, plural, namespace or "", name))
                if found is None:
                    self._json(404, _status(404, "NotFound", f'{plural}.{group} "{name}" not found'))
                else:
                    self._json(200, found)
                return
            items = [
                o
                for (g, v, p, ns, _), o in sorted(fake.objects.items())
                if (g, v, p) == (group, version, plural) and namespace in (None, ns)
            ]
        self._json(200, {"apiVersion": f"{group}/{version}", "kind": "List", "items": items})

    def do_GET(self) -> None:
        fake = self.server.fake
        if not self._authorized():
            return
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        query = parse_qs(parts.query)
        if segments[0] == "apis" and len(segments) >= 4:
            self._custom(segments)
            return
        if segments[:3] != ["api", "v1", "namespaces"] or len(segments) < 5:
            self._json(404, _status(404, "NotFound", "the server could not find the requested resource"))
            return
        namespace, kind = segments[3], segments[4]
        if kind == "services" and len(segments) == 6:
            found = fake.services.get((namespace, segments[5]))
            if found is None:
                self._json(404, _status(404, "NotFound", f'services "{segments[5]}" not found'))
            else:
                self._json(200, found)
        elif kind == "secrets" and len(segments) == 6:
            if self._forbidden("get", "secrets", segments[5]):
                return
            found = fake.secrets.get((namespace, segments[5]))
            if found is None:
                self._json(404, _status(404, "NotFound", f'secrets "{segments[5]}" not found'))
            else:
                self._json(200, found)
        elif kind == "events" and len(segments) == 5:
            if self._forbidden("list", "events", ""):
                return
            wanted = dict(kv.split("=", 1) for kv in ",".join(query.get("fieldSelector", [])).split(",") if kv)
            items = [
                e
                for e in fake.events
                if e["metadata"]["namespace"] == namespace and all(_field(e, k) == v for k, v in wanted.items())
            ]
            self._json(200, {"apiVersion": "v1", "kind": "EventList", "items": items})
        elif kind == "pods" and len(segments) == 5:
            wanted = dict(kv.split("=", 1) for kv in ",".join(query.get("labelSelector", [])).split(",") if kv)
            items = [
                p
                for (ns, _), p in fake.pods.items()
                if ns == namespace and all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())
            ]
            self._json(200, {"apiVersion": "v1", "kind": "PodList", "items": items})
        elif kind == "pods" and len(segments) == 7 and segments[6] == "portforward":
            if fake.forbid_portforward:
                message = f'pods "{segments[5]}" is forbidden: portforward'
                if fake.echo_credentials:  # as a careless proxy might
                    message += f" (request: {self.headers.get('Authorization')})"
                self._json(403, _status(403, "Forbidden", message))
                return
            self._portforward(namespace, segments[5], int(query["ports"][0]))
        else:
            self._json(404, _status(404, "NotFound", "the server could not find the requested resource"))

    def _portforward(self, namespace: str, name: str, port: int) -> None:
        fake = self.server.fake
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode(), usedforsecurity=False).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        fake.streams.append((namespace, name, port))
        sock = self.connection
        send_lock = threading.Lock()

        def send(opcode: int, payload: bytes) -> None:
            with send_lock:
                sock.sendall(frame(opcode, payload))

        number = struct.pack("<H", port)
        send(BINARY, b"\x00" + number)
        send(BINARY, b"\x01" + number)
        address = fake.backends.get((namespace, name, port))
        if address is None:
            send(BINARY, b"\x01" + f"error forwarding port {port} to pod {name}: connection refused".encode())
            send(CLOSE, struct.pack(">H", 1000))
            return
        upstream = socket.create_connection(address)

        def downstream() -> None:  # pod -> client
            with contextlib.suppress(OSError):
                while data := upstream.recv(65536):
                    send(BINARY, b"\x00" + data)
                send(CLOSE, struct.pack(">H", 1000))

        pump = threading.Thread(target=downstream, daemon=True)
        pump.start()
        with contextlib.suppress(OSError):
            while (got := read_frame(self.rfile)) is not None:
                opcode, payload = got
                if opcode == CLOSE:
                    break
                if opcode == BINARY and payload[:1] == b"\x00" and len(payload) > 1:
                    upstream.sendall(payload[1:])
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_RDWR)
        pump.join(timeout=5)
        upstream.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeKube


class FakeKube:
    """Serves :attr:`services` and :attr:`pods` (keyed by ``(namespace, name)``) and port-forwards to
    :attr:`backends` (``(namespace, pod, port) -> (host, port)``). :attr:`requests`: (method, path, headers
    with lowercased names)."""

    def __init__(self, token: str = "fake-bearer-token-0123456789") -> None:
        self.token = token
        self.services: dict[tuple[str, str], dict] = {}
        self.pods: dict[tuple[str, str], dict] = {}
        self.backends: dict[tuple[str, str, int], tuple[str, int]] = {}
        self.objects: dict[tuple[str, str, str, str, str], dict] = {}
        """Custom objects by ``(group, version, plural, namespace, name)``."""
        self.secrets: dict[tuple[str, str], dict] = {}
        self.events: list[dict] = []
        self.forbid: set[tuple[str, str]] = set()
        self.patches: list[tuple[str, str, str, Any]] = []
        """Applied merge patches: (plural, namespace, name, body)."""
        self.lock = threading.Lock()
        self.forbid_portforward = False
        self.echo_credentials = False
        """Put the request's Authorization header into the 403 message (a server that leaks what it was sent)."""
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.streams: list[tuple[str, str, int]] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def kubeconfig(self, context: str = "fake", token: str | None = None) -> str:
        """A kubeconfig for this server: one cluster, one token user, one context (current)."""
        return yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                "users": [{"name": "admin", "user": {"token": token or self.token}}],
                "contexts": [{"name": context, "context": {"cluster": "fake", "user": "admin"}}],
                "current-context": context,
            }
        )

    def add(self, gvp: tuple[str, str, str], obj: dict) -> dict:
        """Store a custom object (``gvp``: group, version, plural); returns it."""
        meta = obj.setdefault("metadata", {})
        meta.setdefault("generation", 1)
        self.objects[(*gvp, meta.get("namespace", ""), meta["name"])] = obj
        return obj

    def get(self, gvp: tuple[str, str, str], namespace: str, name: str) -> dict:
        with self.lock:
            return copy.deepcopy(self.objects[(*gvp, namespace, name)])

    def start(self) -> FakeKube:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


#: The labels the Gitea chart selects its pods by (release ``gitea``).
GITEA_LABELS = {"app.kubernetes.io/name": "gitea", "app.kubernetes.io/instance": "gitea"}


def gitea_cluster(git: tuple[str, int]) -> FakeKube:
    """A started FakeKube with Gitea's HTTP Service (``kommander/gitea-http``, port 3000 -> the pods' port named
    ``http``) and one ready pod ``gitea-0`` whose port 3000 is ``git`` (a Git server's address)."""
    fake = FakeKube().start()
    fake.services[("kommander", "gitea-http")] = service("gitea-http", GITEA_LABELS, 3000, "http")
    fake.pods[("kommander", "gitea-0")] = pod("gitea-0", GITEA_LABELS, ports={"http": 3000})
    fake.backends[("kommander", "gitea-0", 3000)] = git
    return fake
