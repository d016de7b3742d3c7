"""What the dashboard shows, as plain values: the tenancy layout (from the plan) and the live rows.

The pages read through a :class:`Backend`; :mod:`automation.dashboard.kube` is the one that
talks to the clusters (through the operator commands' code), tests pass their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from automation.ops import EventRow, HelmReleaseRow, Row
from components import tenancy_plan

Action = Literal["suspend", "resume", "reconcile"]
ACTIONS: tuple[Action, ...] = ("suspend", "resume", "reconcile")


@dataclass(frozen=True)
class Target:
    """A source's Kustomization on one cluster."""

    cluster: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Source:
    project: str
    name: str
    url: str
    """Without any user information (``https://user:pass@`` is cut)."""
    ref: str
    path: str
    repository: str
    """``<namespace>/<name>`` of its GitRepository."""
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Project:
    name: str
    workspace: str
    namespace: str
    clusters: tuple[str, ...]
    sources: tuple[Source, ...]

    def source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)


@dataclass(frozen=True)
class Workspace:
    name: str
    namespace: str
    clusters: tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    workspaces: tuple[Workspace, ...]
    projects: tuple[Project, ...]

    def project(self, name: str) -> Project | None:
        return next((p for p in self.projects if p.name == name), None)

    @property
    def clusters(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for w in self.workspaces for c in w.clusters))


@dataclass(frozen=True)
class Outcome:
    """What an action did: one line per object (and the stack file), and whether all of it worked."""

    action: Action
    project: str
    source: str
    lines: tuple[str, ...]
    ok: bool = True


@dataclass(frozen=True)
class Snapshot:
    """One read of the clusters: every source's objects per cluster, every HelmRelease."""

    rows: Sequence[Row]
    helm_releases: Sequence[HelmReleaseRow]

    @property
    def kustomizations(self) -> list[Row]:
        return [r for r in self.rows if r.kind == "Kustomization"]

    def of_source(self, project: str, source: str) -> list[Row]:
        """The source's Kustomization per cluster."""
        return [r for r in self.kustomizations if r.project == project and r.source == source]

    def repository(self, project: str, source: str) -> Row | None:
        """The source's GitRepository (on the management cluster)."""
        return next(
            (r for r in self.rows if r.kind == "GitRepository" and r.project == project and r.source == source), None
        )


class UnavailableError(Exception):
    """The clusters could not be read (the page says why, in one line)."""


class Backend(Protocol):
    """Everything the pages read or do."""

    layout: Layout

    def snapshot(self) -> Snapshot:
        """Raises :class:`UnavailableError` when the management cluster cannot be read."""
        ...

    def events(self, project: str, source: str) -> list[EventRow]: ...

    def act(self, action: Action, project: str, source: str, cluster: str | None) -> Outcome: ...

    def read_only_reason(self) -> str | None:
        """Why the user's credentials cannot change the sources, or None when they can."""
        ...


def safe_url(url: str) -> str:
    """``url`` without user information (a password in a Git URL never reaches a page)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _ref(source: tenancy_plan.config.GitOpsSource) -> str:
    ref = source.ref
    for kind in ("branch", "tag", "semver", "commit"):
        if value := getattr(ref, kind):
            return f"{kind} {value}"
    return ""


def layout_of(plan: tenancy_plan.TenancyPlan) -> Layout:
    """The pages' view of the tenancy plan (names, namespaces and clusters; never a kubeconfig)."""
    return Layout(
        workspaces=tuple(Workspace(w.name, w.namespace, tuple(c.name for c in w.clusters)) for w in plan.workspaces),
        projects=tuple(
            Project(
                name=p.name,
                workspace=p.workspace,
                namespace=p.namespace,
                clusters=tuple(p.clusters),
                sources=tuple(
                    Source(
                        project=p.name,
                        name=sp.source.name,
                        url=safe_url(sp.source.url),
                        ref=_ref(sp.source),
                        path=sp.source.path,
                        repository=f"{p.namespace}/{sp.repository}",
                        targets=tuple(Target(t.cluster, t.namespace, t.name) for t in sp.targets),
                    )
                    for sp in p.sources
                ),
            )
            for p in plan.projects
        ),
    )


State = Literal["ready", "failing", "suspended", "unknown"]


def source_state(rows: Sequence[Row], repository: Row | None = None) -> State:
    """One word for a source over its clusters: suspended anywhere, else Ready everywhere (its
    GitRepository too), else failing."""
    if not rows:
        return "unknown"
    if any(r.suspended for r in rows):
        return "suspended"
    if all(r.ready == "True" for r in rows) and (repository is None or repository.ready == "True"):
        return "ready"
    return "failing"


def counts(layout: Layout, snap: Snapshot, project: str | None = None) -> dict[State, int]:
    """Sources per state, over every project or one."""
    out: dict[State, int] = {"ready": 0, "failing": 0, "suspended": 0, "unknown": 0}
    for p in layout.projects:
        if project is None or p.name == project:
            for s in p.sources:
                out[source_state(snap.of_source(p.name, s.name), snap.repository(p.name, s.name))] += 1
    return out
