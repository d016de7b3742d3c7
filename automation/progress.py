"""Live progress from the engine's events, as a pure fold of the event stream.

:class:`Progress` folds :class:`pulumi.automation.events.EngineEvent` objects into
plain state; :func:`render` and :func:`render_summary` turn that state into rich
renderables, :func:`step_line` into one plain line per resource step (outside a terminal),
and :func:`diff_lines` into per-property diffs (``preview --diff``). Nothing here reads a
clock or a terminal, so recorded events render the same way in tests as live ones do in :class:`LiveProgress`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from pulumi.automation.events import EngineEvent, OpType, StepEventMetadata
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

#: Rows shown in the live table: what is running, then the most recently finished.
MAX_ROWS = 12

_VERBS = {
    OpType.CREATE: "creating",
    OpType.UPDATE: "updating",
    OpType.DELETE: "deleting",
    OpType.REPLACE: "replacing",
    OpType.CREATE_REPLACEMENT: "creating replacement",
    OpType.DELETE_REPLACED: "deleting replaced",
    OpType.READ: "reading",
    OpType.REFRESH: "refreshing",
    OpType.IMPORT: "importing",
}
_STYLE = {"running": "yellow", "done": "green", "failed": "bold red"}
_SIGNS = {
    "create": "+",
    "delete": "-",
    "update": "~",
    "replace": "+-",
    "create-replacement": "+-",
    "delete-replaced": "--",
}
#: Pulumi's marker of a secret value in engine events (``sig.Secret``).
SECRET_SIG = "4dabf18193072939515e22adb298388d"
#: A value longer than this is cut in a diff line.
MAX_VALUE = 160


def resource_name(urn: str) -> str:
    """The resource's name: the last ``::`` part of its URN."""
    return urn.rsplit("::", 1)[-1]


@dataclass
class Step:
    """One resource step the engine performs."""

    urn: str
    type: str
    op: str
    status: str  # running | done | failed
    started: int
    finished: int | None = None

    @property
    def name(self) -> str:
        return resource_name(self.urn)


@dataclass(frozen=True)
class PropertyChange:
    """One property of a resource that a step changes."""

    path: str
    kind: str
    """``add``, ``delete``, ``update`` (``-replace`` when it forces a replacement)."""
    old: Any
    new: Any


@dataclass(frozen=True)
class StepDiff:
    """What a step does to one resource, per property."""

    op: str
    type: str
    name: str
    properties: tuple[PropertyChange, ...]


_PATH = re.compile(r'\.?([^.\[\]]+)|\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]')


def _lookup(value: Any, path: str) -> Any:
    """The value at a Pulumi property path (``spec.items[0].name``, ``data["a.b"]``), or None."""
    pos = 0
    while pos < len(path) and value is not None:
        m = _PATH.match(path, pos)
        if m is None:
            return None
        key: Any = m.group(1) if m.group(1) is not None else m.group(2)
        if m.group(3) is not None:
            key = int(m.group(3))
        if isinstance(value, dict) and SECRET_SIG in value:
            return value
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
        pos = m.end()
    return value


def _masked(value: Any) -> Any:
    """``value`` with every secret replaced by ``[secret]``."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return "[secret]"
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def step_diff(meta: StepEventMetadata) -> StepDiff:
    """The per-property changes of a step, from its detailed diff (else its changed top-level keys)."""
    old = dict((meta.old.inputs if meta.old else None) or {})
    new = dict((meta.new.inputs if meta.new else None) or {})
    props: list[PropertyChange] = []
    if meta.detailed_diff:
        for path, diff in sorted(meta.detailed_diff.items()):
            kind = str(getattr(diff.diff_kind, "value", diff.diff_kind))
            props.append(PropertyChange(path, kind, _masked(_lookup(old, path)), _masked(_lookup(new, path))))
    else:
        for key in sorted(meta.diffs or []):
            props.append(PropertyChange(key, "update", _masked(old.get(key)), _masked(new.get(key))))
    return StepDiff(str(_op_value(meta.op)), meta.type, resource_name(meta.urn), tuple(props))


def _value(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if value is not None else "(none)"
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def diff_lines(diffs: Iterable[StepDiff]) -> list[str]:
    """``~ update <type> <name>`` then one ``    ~ path: old => new`` line per property."""
    out = []
    for d in diffs:
        out.append(f"{_SIGNS.get(d.op, '~')} {d.op} {d.type} {d.name}")
        for p in d.properties:
            sign = {"add": "+", "delete": "-"}.get(p.kind.removesuffix("-replace"), "~")
            forces = " (forces replacement)" if p.kind.endswith("-replace") else ""
            if sign == "+":
                out.append(f"    + {p.path}: {_value(p.new)}{forces}")
            elif sign == "-":
                out.append(f"    - {p.path}: {_value(p.old)}{forces}")
            else:
                out.append(f"    ~ {p.path}: {_value(p.old)} => {_value(p.new)}{forces}")
    return out


@dataclass
class Progress:
    """The state of one engine operation, folded from its events."""

    steps: dict[str, Step] = field(default_factory=dict)
    unchanged: int = 0
    started: int | None = None
    last: int | None = None
    diagnostics: list[tuple[str, str, str | None]] = field(default_factory=list)
    changes: dict[str, int] | None = None
    duration: int | None = None
    policy_violations: list[str] = field(default_factory=list)
    diffs: dict[str, StepDiff] = field(default_factory=dict)
    """Per resource URN, what its step changes (every step but ``same``)."""

    def apply(self, event: EngineEvent) -> None:
        """Fold one engine event into the state."""
        ts = int(event.timestamp or 0)
        if self.started is None:
            self.started = ts
        self.last = ts
        if event.resource_pre_event is not None:
            self._pre(event.resource_pre_event.metadata, ts)
        elif event.res_outputs_event is not None:
            self._finish(event.res_outputs_event.metadata, ts, "done")
        elif event.res_op_failed_event is not None:
            self._finish(event.res_op_failed_event.metadata, ts, "failed")
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            if diag.severity in ("warning", "error") and not diag.ephemeral:
                self.diagnostics.append((diag.severity, diag.message.strip(), diag.urn or None))
        elif event.policy_event is not None:
            pol = event.policy_event
            self.policy_violations.append(
                f"[{pol.enforcement_level}] {pol.policy_pack_name}/{pol.policy_name}: {pol.message.strip()}"
            )
        elif event.summary_event is not None:
            self.changes = {str(_op_value(k)): int(v) for k, v in event.summary_event.resource_changes.items()}
            self.duration = int(event.summary_event.duration_seconds)

    def _pre(self, meta: StepEventMetadata, ts: int) -> None:
        if meta.op == OpType.SAME:
            self.unchanged += 1
            return
        op = str(_op_value(meta.op))
        self.diffs[meta.urn] = step_diff(meta)
        self.steps[meta.urn] = Step(urn=meta.urn, type=meta.type, op=op, status="running", started=ts)

    def _finish(self, meta: StepEventMetadata, ts: int, status: str) -> None:
        step = self.steps.get(meta.urn)
        if step is None:  # SAME steps report outputs too; they are counted, not shown
            return
        step.status = status
        step.finished = ts

    def counts(self) -> dict[str, int]:
        out = {"running": 0, "done": 0, "failed": 0}
        for step in self.steps.values():
            out[step.status] += 1
        out["unchanged"] = self.unchanged
        return out

    @property
    def errors(self) -> list[str]:
        return [msg for sev, msg, _ in self.diagnostics if sev == "error"]


def _op_value(op: Any) -> Any:
    return op.value if isinstance(op, OpType) else op


def _verb(op: str) -> str:
    """``creating``, ``updating``, ... for an engine op; the op itself when it has no verb."""
    try:
        return _VERBS.get(OpType(op), op)
    except ValueError:
        return op


_DONE = {"create": "created", "update": "updated", "delete": "deleted", "replace": "replaced", "read": "read",
         "refresh": "refreshed", "import": "imported"}  # fmt: skip


def step_line(progress: Progress, event: EngineEvent) -> str | None:
    """One plain line for a resource step's start or end (after ``progress.apply(event)``), else None."""
    meta = None
    if event.resource_pre_event is not None:
        meta = event.resource_pre_event.metadata
    elif event.res_outputs_event is not None:
        meta = event.res_outputs_event.metadata
    elif event.res_op_failed_event is not None:
        meta = event.res_op_failed_event.metadata
    step = progress.steps.get(meta.urn) if meta is not None else None
    if step is None:
        return None
    if step.status == "running":
        return f"{_verb(step.op)} {step.type} {step.name}"
    took = format_elapsed((step.finished or step.started) - step.started)
    if step.status == "failed":
        return f"failed to {step.op} {step.type} {step.name} after {took}"
    return f"{_DONE.get(step.op, step.op + ' done')} {step.type} {step.name} in {took}"


def fold(events: Iterable[EngineEvent]) -> Progress:
    """The progress state after ``events``."""
    progress = Progress()
    for event in events:
        progress.apply(event)
    return progress


def format_elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def headline(progress: Progress, title: str, now: float | None = None) -> str:
    """``title · N done · N running · N failed · N unchanged · elapsed``."""
    c = progress.counts()
    end = now if now is not None else (progress.last or 0)
    elapsed = end - progress.started if progress.started is not None else 0
    return (
        f"{title} · {c['done']} done · {c['running']} running · {c['failed']} failed · "
        f"{c['unchanged']} unchanged · {format_elapsed(elapsed)}"
    )


def render(progress: Progress, title: str, now: float | None = None) -> RenderableType:
    """The live view: a headline with counts and elapsed time, and the resources in flight."""
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("status")
    table.add_column("operation")
    table.add_column("type")
    table.add_column("name")
    table.add_column("time", justify="right")
    running = [s for s in progress.steps.values() if s.status == "running"]
    finished = sorted(
        (s for s in progress.steps.values() if s.status != "running"), key=lambda s: s.finished or 0, reverse=True
    )
    end = now if now is not None else (progress.last or 0)
    for step in (running + finished)[:MAX_ROWS]:
        took = (step.finished if step.finished is not None else end) - step.started
        verb = _verb(step.op)
        table.add_row(Text(step.status, style=_STYLE[step.status]), verb, step.type, step.name, format_elapsed(took))
    return Group(Text(headline(progress, title, now), style="bold"), table)


def render_summary(progress: Progress, title: str) -> RenderableType:
    """The end-of-run summary: changes by operation, failures, errors and policy violations."""
    lines: list[RenderableType] = []
    changes = progress.changes or {}
    parts = [f"{n} {op}" for op, n in sorted(changes.items()) if n]
    duration = format_elapsed(progress.duration) if progress.duration is not None else "?"
    lines.append(Text(f"{title}: {', '.join(parts) or 'no resources'} ({duration})", style="bold"))
    for step in progress.steps.values():
        if step.status == "failed":
            lines.append(Text(f"  failed: {step.op} {step.type} {step.name}", style="red"))
    for sev, msg, urn in progress.diagnostics:
        where = f" ({resource_name(urn)})" if urn else ""
        lines.append(Text(f"  {sev}{where}: {msg}", style="red" if sev == "error" else "yellow"))
    for violation in progress.policy_violations:
        lines.append(Text(f"  policy {violation}", style="magenta"))
    return Group(*lines)


class LiveProgress:
    """A rich Live view fed by ``on_event``; thread-safe (the engine calls back from a reader thread)."""

    def __init__(self, console: Console, title: str, enabled: bool = True) -> None:
        self.progress = Progress()
        self.title = title
        self._console = console
        self._lock = threading.Lock()
        self._live = Live(get_renderable=self._renderable, console=console, refresh_per_second=4, transient=True)
        self._enabled = enabled

    def _renderable(self) -> RenderableType:
        with self._lock:
            return render(self.progress, self.title, time.time())

    def on_event(self, event: EngineEvent) -> None:
        with self._lock:
            self.progress.apply(event)
            if not self._enabled:  # no terminal (CI, a pipe): one line per resource step, as it happens
                line = step_line(self.progress, event)
                if line is not None:
                    self._console.print(Text(line), soft_wrap=True)
                    self._console.file.flush()

    def __enter__(self) -> LiveProgress:
        if self._enabled:
            self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._enabled:
            self._live.__exit__(exc_type, exc, tb)
        self._console.print(render_summary(self.progress, self.title))
