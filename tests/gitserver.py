"""A bare Git repository served over HTTP by ``git http-backend`` with basic auth, on 127.0.0.1.

:class:`GitServer` runs a threaded ``http.server`` on port 0 that checks the
``Authorization`` header and hands each request to ``git http-backend`` as a CGI
program. It serves every bare repository under its root (``<root>/<owner>/<name>.git``);
the tests use it as a stand-in for Gitea.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

HTTP_BACKEND = Path(subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip())


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _serve(self) -> None:
        self.server.authorizations.append(self.headers.get("Authorization") or "")
        if self.server.redirect:
            self.send_response(self.server.redirect_status)
            self.send_header("Location", self.server.redirect + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        password = self.server.password() if callable(self.server.password) else self.server.password
        expected = "Basic " + base64.b64encode(f"{self.server.username}:{password}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.requests.append(self.command + " " + self.path)
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": self.server.username,
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        proc = subprocess.run(
            [str(HTTP_BACKEND / "git-http-backend")], input=body, capture_output=True, env=env, check=False
        )
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            if not line:
                continue
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    username: str
    password: str | Callable[[], str]
    requests: list[str]
    authorizations: list[str]
    redirect: str
    redirect_status: int


class GitServer:
    """Serves ``<root>/<owner>/<repo>.git`` at ``http://127.0.0.1:<port>/<owner>/<repo>.git``."""

    def __init__(
        self, root: Path, username: str = "kommander-admin", password: str | Callable[[], str] = "s3cr3t-pa55word"
    ) -> None:
        """``password`` is the one the server accepts, or a function asked on every request (the e2e suite reads
        the admin Secret the stack created, as Gitea does)."""
        self.root = root
        self.username = username
        self.password = password
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.root, self._server.username, self._server.password = root, username, password
        self._server.requests = []
        self._server.authorizations = []
        self._server.redirect, self._server.redirect_status = "", 302
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    @property
    def authorizations(self) -> list[str]:
        """The ``Authorization`` header of every request received (empty string: none), before any check."""
        return self._server.authorizations

    def redirect_to(self, base_url: str, status: int = 302) -> None:
        """Answer every request with a redirect to the same path under ``base_url`` (a hostile or moved server)."""
        self._server.redirect, self._server.redirect_status = base_url.rstrip("/"), status

    def set_password(self, password: str | Callable[[], str]) -> None:
        """Rotate the password the server accepts (like changing the Gitea admin's)."""
        self.password = self._server.password = password

    def create(self, owner: str = "kommander-admin", name: str = "kommander") -> str:
        """A new empty bare repository; returns its URL."""
        path = self.root / owner / f"{name}.git"
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(path)], check=True)
        subprocess.run(["git", "-C", str(path), "config", "http.receivepack", "true"], check=True)
        return f"{self.base_url}/{owner}/{name}.git"

    def bare(self, owner: str = "kommander-admin", name: str = "kommander") -> Path:
        return self.root / owner / f"{name}.git"

    def start(self) -> GitServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)
