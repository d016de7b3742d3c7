"""How the rows of :mod:`automation.ops` are shown: tables, one line per row, JSON and YAML.

Every value is shown verbatim: cells are ``rich.text.Text``, never markup, so Flux's
messages (``[spec.replicas]``, ``[/spec/...]``) and ``[secret]`` print as they are.
A table needs a terminal at least :data:`TABLE_WIDTH` columns wide; elsewhere (a narrow
terminal, a CI log, ``| tee``) each row is one line of ``key=value`` fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from automation.ops import Change, EventRow, HelmReleaseRow, Row, healthy

__all__ = [
    "TABLE_WIDTH",
    "change_lines",
    "event_table",
    "healthy",
    "lines",
    "release_lines",
    "render_releases",
    "render_table",
    "to_json",
    "to_yaml",
    "use_table",
]

#: Narrower than this, tables fold their cells into unreadable columns: print lines instead.
TABLE_WIDTH = 120

_STYLE = {
    "True": "green",
    "False": "red",
    "Missing": "red",
    "Forbidden": "red",
    "Unreachable": "yellow",
    "Unknown": "yellow",
    "Warning": "yellow",
    "Condition": "red",
}


def use_table(console: Console) -> bool:
    """Tables on a terminal wide enough; one line per row anywhere else."""
    return console.is_terminal and console.width >= TABLE_WIDTH


def _state(ready: str, suspended: bool) -> Text:
    text = Text(ready, style=_STYLE.get(ready, ""))
    if suspended:
        text.append(" (suspended)", style="bold")
    return text


def render_table(rows: Sequence[Row]) -> Table:
    table = Table(title="GitOps sources per cluster", title_justify="left")
    for column in ("Project", "Source", "Cluster", "Kind", "Object", "Ready", "Propagation", "Revision"):
        table.add_column(column, overflow="fold")
    table.add_column("Message", overflow="fold", min_width=24)
    for r in rows:
        table.add_row(
            Text(r.project or "-"),
            Text(r.source or "-"),
            Text(r.cluster),
            Text(r.kind),
            Text(f"{r.namespace}/{r.name}"),
            _state(r.ready, r.suspended),
            Text(r.propagation, style=_STYLE.get(r.propagation, "")),
            Text(r.revision or "-"),
            Text(r.message),
        )
    return table


def render_releases(rows: Sequence[HelmReleaseRow]) -> Table:
    table = Table(title="Helm releases per cluster", title_justify="left")
    for column in ("Cluster", "Project", "Release", "Namespace", "Chart", "Version", "Ready"):
        table.add_column(column, overflow="fold")
    table.add_column("Message", overflow="fold", min_width=24)
    for r in rows:
        table.add_row(
            Text(r.cluster),
            Text(r.project or "-"),
            Text(r.release or "-"),
            Text(r.release_namespace or "-"),
            Text(r.chart or "-"),
            Text(r.version or "-"),
            _state(r.ready, r.suspended),
            Text(r.message),
        )
    return table


def event_table(rows: Sequence[EventRow]) -> Table:
    table = Table(title="Events and failing conditions", title_justify="left")
    for column in ("Last seen", "Cluster", "Type", "Reason", "Object"):
        table.add_column(column, overflow="fold")
    table.add_column("Message", overflow="fold", min_width=24)
    for r in rows:
        table.add_row(
            Text(r.time or "-"),
            Text(r.cluster),
            Text(r.type, style=_STYLE.get(r.type, "")),
            Text(r.reason),
            Text(f"{r.kind}/{r.namespace}/{r.name}"),
            Text(r.message),
        )
    return table


def _suspended(flag: bool) -> str:
    return " (suspended)" if flag else ""


def lines(rows: Iterable[Row]) -> list[str]:
    """One line per row: the fields that identify it, its state, then Flux's message verbatim."""
    return [
        f"{r.project}/{r.source} cluster={r.cluster} {r.kind}={r.namespace}/{r.name} "
        f"ready={r.ready}{_suspended(r.suspended)} propagation={r.propagation} revision={r.revision or '-'}"
        + (f" message={r.message}" if r.message else "")
        for r in rows
    ]


def release_lines(rows: Iterable[HelmReleaseRow]) -> list[str]:
    return [
        f"cluster={r.cluster} release={r.release_namespace or '-'}/{r.release or '-'} chart={r.chart or '-'} "
        f"version={r.version or '-'} ready={r.ready}{_suspended(r.suspended)}"
        + (f" project={r.project}" if r.project else "")
        + (f" message={r.message}" if r.message else "")
        for r in rows
    ]


def event_lines(rows: Iterable[EventRow]) -> list[str]:
    return [
        f"{r.time or '-'} cluster={r.cluster} {r.type} {r.reason} {r.kind}={r.namespace}/{r.name}"
        + (f" message={r.message}" if r.message else "")
        for r in rows
    ]


def change_lines(changes: Iterable[Change]) -> list[str]:
    """What an action did, one line per object (``cluster``: ``-`` for the stack file)."""
    out = []
    for c in changes:
        where = f"{c.cluster or '-'}: {c.kind} {c.namespace + '/' if c.namespace else ''}{c.name} {c.field}"
        if c.error:
            out.append(f"{where} FAILED: {c.error}")
        elif c.changed:
            out.append(f"{where} {c.before} -> {c.after}")
        else:
            out.append(f"{where} already {c.after}")
    return out


def _plain(rows: Iterable[Any]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def to_json(rows: Iterable[Any]) -> str:
    return json.dumps(_plain(rows), indent=2, sort_keys=True)


def to_yaml(rows: Iterable[Any]) -> str:
    return yaml.safe_dump(_plain(rows), sort_keys=True, allow_unicode=True, width=10_000)
