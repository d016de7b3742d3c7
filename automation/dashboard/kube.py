"""The dashboard's :class:`~automation.dashboard.model.Backend` on live clusters, through :mod:`automation.ops`.

Reads are cached for a moment (several tabs refreshing read the clusters once), the
attached clusters' clients for a minute. Whether the user may act is asked once a
minute: a SelfSubjectAccessReview for ``patch`` on the Kustomizations and
GitRepositories of every namespace the sources live in; an API server that does not
answer it gets a dry-run patch instead, whose 403 says the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from automation import ops, stackfile
from automation.dashboard import model
from components import config


def describe(change: ops.Change) -> str:
    """One line for the result message: what changed, what was already so, or what failed."""
    if change.kind == "StackFile":
        if change.before == change.after:
            return f"{change.name}: {change.field} was already {change.after}"
        return f"{change.name}: {change.field} {change.before or 'unset'} → {change.after} (commit it: up keeps it)"
    where = f"{change.cluster}: {change.kind} {change.namespace}/{change.name}"
    if change.error:
        return f"{where}: not changed: {change.error}"
    if change.before == change.after:
        return f"{where}: {change.field} was already {change.after}"
    return f"{where}: {change.field} {change.before or 'unset'} → {change.after}"


class KubeBackend:
    """Reads and acts through ``ops`` with the user's own credentials for the management cluster."""

    def __init__(
        self,
        cfg: config.StackConfig,
        api: ops.CustomObjects,
        api_core: ops.CoreObjects,
        api_auth: Any,
        *,
        stack_file: Path | None = None,
        make: Callable[[str], ops.CustomObjects] = ops.client_from_kubeconfig,
        ttl: float = 2.0,
        clients_ttl: float = 60.0,
    ) -> None:
        self.targets = ops.targets(cfg)
        self.layout = model.Layout(self.targets)
        self.api = api
        self.api_core = api_core
        self.api_auth = api_auth
        self.stack_file = stack_file
        self.make = make
        self.ttl = ttl
        self.clients_ttl = clients_ttl
        self._lock = threading.Lock()
        self._snapshot: tuple[float, model.Snapshot] | None = None
        self._clients: tuple[float, dict[str, ops.CustomObjects | str]] | None = None
        self._read_only: tuple[float, str | None] | None = None

    # ------------------------------------------------------------------ reading

    def clients(self) -> dict[str, ops.CustomObjects | str]:
        now = time.monotonic()
        if self._clients is None or now - self._clients[0] > self.clients_ttl:
            self._clients = (now, ops.cluster_clients(self.api_core, self.targets, make=self.make))
        return self._clients[1]

    def snapshot(self) -> model.Snapshot:
        with self._lock:
            now = time.monotonic()
            if self._snapshot is not None and now - self._snapshot[0] < self.ttl:
                return self._snapshot[1]
            try:
                rows = ops.read_status(self.api, self.targets)
                releases = ops.read_helm_releases(self.api, self.targets, self.clients())
            except ops.UnreachableError as exc:
                raise model.UnavailableError(str(exc)) from None
            snap = model.Snapshot(rows, releases)
            self._snapshot = (time.monotonic(), snap)
            return snap

    def events(self, project: str, source: str) -> list[ops.EventRow]:
        try:
            return ops.events(self.api_core, self.api, self.targets, project, source)
        except ops.UnreachableError as exc:
            raise model.UnavailableError(str(exc)) from None

    # ------------------------------------------------------------------ acting

    def act(self, action: model.Action, project: str, source: str, cluster: str | None) -> model.Outcome:
        try:
            if action == "reconcile":
                changes = ops.reconcile(self.api, self.targets, project, source, cluster, with_source=True)
            else:
                act = ops.suspend if action == "suspend" else ops.resume
                changes = act(self.api, self.targets, project, source, cluster, stack_file=self.stack_file)
        except (ops.UnreachableError, config.ConfigError) as exc:
            return model.Outcome(action, project, source, (str(exc),), ok=False)
        finally:
            with self._lock:
                self._snapshot = None
        lines = tuple(describe(c) for c in changes) or ("nothing to change: the source is on no cluster",)
        return model.Outcome(action, project, source, lines, ok=not any(c.error for c in changes))

    def _denied(self, gvp: tuple[str, str, str], namespace: str, name: str) -> str | None:
        """Why ``patch`` on ``gvp`` in ``namespace`` is refused, or None when allowed."""
        group, version, plural = gvp
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {"group": group, "resource": plural, "verb": "patch", "namespace": namespace}
            },
        }
        denied = f"your credentials cannot patch {plural} in namespace {namespace}"
        try:
            answer = self.api_auth.create_self_subject_access_review(review, _request_timeout=ops.REQUEST_TIMEOUT)
            status = (answer.to_dict() if hasattr(answer, "to_dict") else dict(answer)).get("status") or {}
            if status.get("allowed"):
                return None
            reason = str(status.get("reason") or "").strip()
            return f"{denied} ({reason})" if reason else denied
        except Exception:  # no answer to the review: try the patch itself, as a dry run
            pass
        try:
            self.api.patch_namespaced_custom_object(  # type: ignore[call-arg]
                group, version, namespace, plural, name, {}, dry_run="All", _request_timeout=ops.REQUEST_TIMEOUT
            )
        except Exception as exc:
            code = getattr(exc, "status", None)
            if code in (401, 403):
                return f"{denied} (HTTP {code} on a dry-run patch)"
        return None

    def read_only_reason(self) -> str | None:
        now = time.monotonic()
        if self._read_only is not None and now - self._read_only[0] < self.clients_ttl:
            return self._read_only[1]
        checks: dict[tuple[tuple[str, str, str], str], str] = {}
        for src in self.targets.sources:
            checks.setdefault((ops.GIT_REPOSITORIES, src.namespace), src.repository)
            for t in src.kustomizations:
                checks.setdefault((ops.KUSTOMIZATIONS, t.namespace), t.name)
        reason = next((why for (gvp, ns), name in sorted(checks.items()) if (why := self._denied(gvp, ns, name))), None)
        self._read_only = (now, reason)
        return reason


def connect(file: stackfile.StackFile, env: Mapping[str, str]) -> KubeBackend:
    """A backend on the stack's kube context (``kubernetes:context``, else the current one) of
    ``$KUBECONFIG`` (else ``~/.kube/config``)."""
    from kubernetes import client
    from kubernetes import config as kube_config

    from automation.dashboard import DashboardError

    try:
        api_client = kube_config.new_client_from_config(
            config_file=env.get("KUBECONFIG") or "~/.kube/config", context=file.kube_context
        )
    except Exception as exc:  # ConfigException, a missing kubeconfig: one line
        where = file.kube_context or "(current)"
        raise DashboardError(f"cannot load kube context {where}: {' '.join(str(exc).split())}") from None
    return KubeBackend(
        file.config,
        client.CustomObjectsApi(api_client),
        client.CoreV1Api(api_client),
        client.AuthorizationV1Api(api_client),
        stack_file=file.path,
    )
