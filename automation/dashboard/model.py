"""What the dashboard shows, as plain values: the tenancy layout (:func:`automation.ops.targets`) and the live rows.

The pages read through a :class:`Backend`; :mod:`automation.dashboard.kube` is the one that
talks to the clusters (through the operator commands' code), tests pass their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from automation import ops
from automation.ops import EventRow, HelmReleaseRow, Row

Action = Literal["suspend", "resume", "reconcile"]
ACTIONS: tuple[Action, ...] = ("suspend", "resume", "reconcile")


@dataclass(frozen=True)
class Layout:
    """The pages' view of :func:`automation.ops.targets` (names, namespaces and clusters; never a kubeconfig):
    the projects, their sources and the workspaces, in the stack's order."""

    targets: ops.Targets

    @property
    def projects(self) -> tuple[ops.Project, ...]:
        return self.targets.projects

    @property
    def workspaces(self) -> tuple[ops.Workspace, ...]:
        return self.targets.workspaces

    @property
    def clusters(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.targets.clusters)

    def clusters_of(self, workspace: str) -> tuple[str, ...]:
        return tuple(c.name for c in self.targets.clusters if c.workspace == workspace)

    def project(self, name: str) -> ops.Project | None:
        return next((p for p in self.projects if p.name == name), None)

    def sources(self, project: str) -> tuple[ops.Source, ...]:
        return tuple(s for s in self.targets.sources if s.project == project)

    def source(self, project: str, name: str) -> ops.Source | None:
        return next((s for s in self.sources(project) if s.source == name), None)


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
    for s in layout.targets.sources:
        if project is None or s.project == project:
            out[source_state(snap.of_source(s.project, s.source), snap.repository(s.project, s.source))] += 1
    return out
