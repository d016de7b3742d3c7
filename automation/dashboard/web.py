"""The dashboard's web application (Starlette): server-rendered pages, POST actions, guards.

Guards on every request: the ``Host`` header must name an address the server listens on
(a page of another site that rebinds its name to 127.0.0.1 is refused); with a token, a
request carries it (``Authorization: Bearer``, or the session cookie the login form sets,
which holds an HMAC of the token, not the token) and it is compared in constant time;
actions are POST with the page's CSRF token and no cross-site ``Origin``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from automation import ops
from automation.dashboard import model
from automation.dashboard.model import ACTIONS, Action, Backend

HERE = Path(__file__).resolve().parent
COOKIE = "kommander_dashboard"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Only these paths are served without the token (the login form and what it loads).
PUBLIC = ("/login", "/static/dashboard.css", "/static/favicon.svg")
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make Chromium send "Origin: null" on our own forms
    "Cache-Control": "no-store",
}
WORDS = {"suspend": "Suspend", "resume": "Resume", "reconcile": "Reconcile"}
EFFECT = {
    "suspend": "Flux stops applying this source on the clusters below until it is resumed.",
    "resume": "Flux applies this source again on the clusters below.",
    "reconcile": "Flux fetches the source and applies it now on the clusters below, instead of at its next interval.",
}


def session_value(token: str) -> str:
    """What the session cookie holds: an HMAC of the token (the token itself is never sent back)."""
    return hmac.new(token.encode(), b"kommander-dashboard-session", hashlib.sha256).hexdigest()


def _host_name(host_header: str) -> str:
    """The host of a ``Host`` header, without port or IPv6 brackets, lowercased."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")].lower() if "]" in host_header else ""
    return host_header.rsplit(":", 1)[0].lower() if host_header.count(":") == 1 else host_header.lower()


class Dashboard:
    """The pages and actions over one :class:`Backend`."""

    def __init__(
        self,
        backend: Backend,
        *,
        stack: str,
        token: str | None = None,
        hosts: tuple[str, ...] | None = LOOPBACK_HOSTS,
        refresh_seconds: float = 5.0,
    ) -> None:
        self.backend = backend
        self.stack = stack
        self.token = token
        self.hosts = None if hosts is None else tuple(h.lower().strip("[]") for h in hosts)
        self.refresh_seconds = refresh_seconds
        self.csrf = secrets.token_urlsafe(32)
        self.outcomes: OrderedDict[str, model.Outcome] = OrderedDict()
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(words=WORDS, qs=urlencode)

    # ------------------------------------------------------------------ guards

    def authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), self.token.encode()):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return hmac.compare_digest(cookie.encode(), session_value(self.token).encode())

    async def guard(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if self.hosts is not None and _host_name(request.headers.get("host", "")) not in self.hosts:
            response: Response = PlainTextResponse("unknown Host header: open the dashboard by its address", 421)
        elif request.url.path not in PUBLIC and not self.authorized(request):
            if request.method == "GET" and "x-dashboard-refresh" not in request.headers:
                response = RedirectResponse("/login?" + urlencode({"next": request.url.path}), 303)
            else:
                response = PlainTextResponse("a valid token is required", 401)
        else:
            response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def cross_site(self, request: Request) -> str | None:
        """Why a POST is refused as cross-site, or None."""
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return "cross-site request refused"
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
            return "cross-origin request refused"
        return None

    # ------------------------------------------------------------------ rendering

    def page(self, template: str, request: Request, status: int = 200, **values: Any) -> HTMLResponse:
        body = self.templates.get_template(template).render(
            stack=self.stack,
            refresh=self.refresh_seconds,
            path=request.url.path,
            csrf=self.csrf,
            **values,
        )
        return HTMLResponse(body, status)

    def missing(self, request: Request, what: str) -> HTMLResponse:
        return self.page("error.html", request, 404, title="Not found", message=what)

    # ------------------------------------------------------------------ pages

    def overview(self, request: Request) -> HTMLResponse:
        layout = self.backend.layout
        snap = self.backend.snapshot()
        return self.page(
            "overview.html",
            request,
            layout=layout,
            snap=snap,
            totals=model.counts(layout, snap),
            per_project={p.name: model.counts(layout, snap, p.name) for p in layout.projects},
            releases={c: [r for r in snap.helm_releases if r.cluster == c] for c in layout.clusters},
        )

    def project(self, request: Request) -> HTMLResponse:
        project = self.backend.layout.project(request.path_params["project"])
        if project is None:
            return self.missing(request, f"no project {request.path_params['project']!r} in stack {self.stack}")
        snap = self.backend.snapshot()
        outcome = self.outcomes.get(request.query_params.get("result", ""))
        return self.page(
            "project.html",
            request,
            project=project,
            sources=self.backend.layout.sources(project.name),
            snap=snap,
            outcome=outcome if outcome and outcome.project == project.name else None,
            read_only=self.backend.read_only_reason(),
        )

    def source(self, request: Request) -> HTMLResponse:
        found = self._source(request)
        if isinstance(found, HTMLResponse):
            return found
        project, source = found
        snap = self.backend.snapshot()
        return self.page(
            "source.html",
            request,
            project=project,
            source=source,
            rows={r.cluster: r for r in snap.of_source(project.name, source.source)},
            repository=snap.repository(project.name, source.source),
            events=self.backend.events(project.name, source.source),
        )

    def helm(self, request: Request) -> HTMLResponse:
        layout = self.backend.layout
        cluster = request.query_params.get("cluster", "")
        project = request.query_params.get("project", "")
        releases = [
            r
            for r in self.backend.snapshot().helm_releases
            if (not cluster or r.cluster == cluster) and (not project or r.project == project)
        ]
        return self.page(
            "helm.html",
            request,
            layout=layout,
            releases=releases,
            cluster=cluster,
            project=project,
        )

    def _source(self, request: Request) -> tuple[ops.Project, ops.Source] | HTMLResponse:
        name = request.path_params["project"]
        project = self.backend.layout.project(name)
        if project is None:
            return self.missing(request, f"no project {name!r} in stack {self.stack}")
        source = self.backend.layout.source(name, request.path_params["source"])
        if source is None:
            return self.missing(request, f"project {name!r} has no source {request.path_params['source']!r}")
        return project, source

    def _action(self, values: Mapping[str, Any], source: ops.Source) -> tuple[Action, str | None] | str:
        """The action and the cluster (None: every cluster) asked for, or why they are a bad request."""
        action = str(values.get("action", ""))
        if action not in ACTIONS:
            return f"unknown action {action!r}: one of {', '.join(ACTIONS)}"
        cluster = str(values.get("cluster", "")) or None
        if cluster is not None and cluster not in {t.cluster for t in source.kustomizations}:
            return f"source {source.source!r} is not on {cluster!r}"
        return action, cluster

    def confirm(self, request: Request) -> HTMLResponse:
        found = self._source(request)
        if isinstance(found, HTMLResponse):
            return found
        project, source = found
        chosen = self._action(request.query_params, source)
        if isinstance(chosen, str):
            return self.page("error.html", request, 400, title="Bad request", message=chosen)
        action, cluster = chosen
        rows = self.backend.snapshot().of_source(project.name, source.source)
        return self.page(
            "confirm.html",
            request,
            project=project,
            source=source,
            action=action,
            cluster=cluster or "",
            effect=EFFECT[action],
            rows={r.cluster: r for r in rows},
            read_only=self.backend.read_only_reason(),
        )

    async def act(self, request: Request) -> Response:
        found = self._source(request)
        if isinstance(found, HTMLResponse):
            return found
        project, source = found
        refused = self.cross_site(request)
        form = await request.form()
        if refused is None and not hmac.compare_digest(str(form.get("csrf", "")).encode(), self.csrf.encode()):
            refused = "the form's CSRF token is missing or stale: reload the page and try again"
        if refused is not None:
            return self.page("error.html", request, 403, title="Refused", message=refused)
        chosen = self._action({"action": request.path_params["action"], "cluster": form.get("cluster", "")}, source)
        if isinstance(chosen, str):
            return self.page("error.html", request, 400, title="Bad request", message=chosen)
        action, cluster = chosen
        reason = await run_in_threadpool(self.backend.read_only_reason)
        if reason is not None:
            return self.page("error.html", request, 403, title="Read-only", message=reason)
        outcome = await run_in_threadpool(self.backend.act, action, project.name, source.source, cluster)
        key = secrets.token_urlsafe(8)
        self.outcomes[key] = outcome
        while len(self.outcomes) > 100:
            self.outcomes.popitem(last=False)
        return RedirectResponse(f"/projects/{project.name}?result={key}", 303)

    async def login(self, request: Request) -> Response:
        target = request.query_params.get("next", "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        if self.token is None:
            return RedirectResponse(target, 303)
        if request.method == "GET":
            return self.page("login.html", request, next=target, failed=False)
        form = await request.form()
        if not hmac.compare_digest(str(form.get("token", "")).encode(), self.token.encode()):
            await asyncio.sleep(0.2)
            return self.page("login.html", request, 401, next=target, failed=True)
        response = RedirectResponse(target, 303)
        response.set_cookie(COOKIE, session_value(self.token), httponly=True, samesite="strict", path="/")
        return response

    # ------------------------------------------------------------------ the app

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.overview),
                Route("/helm-releases", self.helm),
                Route("/projects/{project}", self.project),
                Route("/projects/{project}/sources/{source}", self.source),
                Route("/projects/{project}/sources/{source}/confirm", self.confirm),
                Route("/projects/{project}/sources/{source}/{action}", self.act, methods=["POST"]),
                Route("/login", self.login, methods=["GET", "POST"]),
                Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            ],
            middleware=[Middleware(BaseHTTPMiddleware, dispatch=self.guard)],
            exception_handlers={model.UnavailableError: self.unavailable},
        )

    def unavailable(self, request: Request, exc: Exception) -> HTMLResponse:
        return self.page("error.html", request, 503, title="Clusters not readable", message=str(exc))
