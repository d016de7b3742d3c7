"""The live progress view is a pure fold of engine events: recorded events render deterministically."""

from __future__ import annotations

from pulumi.automation.events import (
    DiagnosticEvent,
    EngineEvent,
    OpType,
    ResOpFailedEvent,
    ResourcePreEvent,
    ResOutputsEvent,
    StepEventMetadata,
    SummaryEvent,
)
from rich.console import Console

from automation import progress

STACK_URN = "urn:pulumi:dev::kommander::pulumi:pulumi:Stack::kommander-dev"
NS_URN = "urn:pulumi:dev::kommander::kubernetes:core/v1:Namespace::kommander-ns-kommander"
FLUX_URN = "urn:pulumi:dev::kommander::kubernetes:helm.sh/v3:Release::kommander-flux"
CA_URN = "urn:pulumi:dev::kommander::kubernetes:cert-manager.io/v1:Certificate::kommander-ca"

T0 = 1_700_000_000


def meta(op: OpType, urn: str) -> StepEventMetadata:
    return StepEventMetadata(op=op, urn=urn, type=urn.split("::")[2], provider="")


def recorded() -> list[EngineEvent]:
    """An ``up`` as the engine reports it: one unchanged, three created, one failed."""
    return [
        EngineEvent(1, T0, resource_pre_event=ResourcePreEvent(meta(OpType.SAME, STACK_URN))),
        EngineEvent(2, T0 + 1, resource_pre_event=ResourcePreEvent(meta(OpType.CREATE, NS_URN))),
        EngineEvent(3, T0 + 2, res_outputs_event=ResOutputsEvent(meta(OpType.CREATE, NS_URN))),
        EngineEvent(4, T0 + 2, resource_pre_event=ResourcePreEvent(meta(OpType.CREATE, FLUX_URN))),
        EngineEvent(5, T0 + 3, resource_pre_event=ResourcePreEvent(meta(OpType.CREATE, CA_URN))),
        EngineEvent(
            6,
            T0 + 9,
            diagnostic_event=DiagnosticEvent("timed out waiting for Ready\n", "never", "error", urn=CA_URN),
        ),
        EngineEvent(7, T0 + 9, res_op_failed_event=ResOpFailedEvent(meta(OpType.CREATE, CA_URN), status=1, steps=1)),
    ]


def text(renderable: object, width: int = 160) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_fold_counts_each_resource_once_by_state() -> None:
    state = progress.fold(recorded())
    assert state.counts() == {"running": 1, "done": 1, "failed": 1, "unchanged": 1}
    assert state.steps[NS_URN].status == "done" and state.steps[NS_URN].finished == T0 + 2
    assert state.steps[FLUX_URN].status == "running"
    assert state.steps[CA_URN].status == "failed"
    assert state.errors == ["timed out waiting for Ready"]
    assert STACK_URN not in state.steps  # unchanged resources are counted, not listed


def test_live_view_shows_counts_elapsed_and_resources_in_flight() -> None:
    out = text(progress.render(progress.fold(recorded()), "up dev", now=T0 + 75))
    assert "up dev · 1 done · 1 running · 1 failed · 1 unchanged · 1m15s" in out
    lines = out.splitlines()
    flux = next(line for line in lines if "kommander-flux" in line)
    assert "running" in flux and "creating" in flux and "kubernetes:helm.sh/v3:Release" in flux and "1m13s" in flux
    ca = next(line for line in lines if "kommander-ca" in line)
    assert "failed" in ca and "6s" in ca
    assert lines.index(flux) < lines.index(ca)  # what is running comes first


def test_elapsed_without_a_clock_is_the_span_of_the_events() -> None:
    assert progress.headline(progress.fold(recorded()), "up dev").endswith("· 9s")
    assert progress.headline(progress.Progress(), "preview dev").endswith("· 0s")


def test_live_view_caps_the_rows() -> None:
    events = [
        EngineEvent(i, T0, resource_pre_event=ResourcePreEvent(meta(OpType.CREATE, f"{NS_URN}-{i}")))
        for i in range(progress.MAX_ROWS + 5)
    ]
    out = text(progress.render(progress.fold(events), "up dev", now=T0))
    assert sum("creating" in line for line in out.splitlines()) == progress.MAX_ROWS
    assert f"{progress.MAX_ROWS + 5} running" in out


def test_summary_lists_changes_failures_and_errors() -> None:
    events = [
        *recorded(),
        EngineEvent(8, T0 + 10, summary_event=SummaryEvent(False, 10, {OpType.CREATE: 2, OpType.SAME: 1}, {})),
    ]
    state = progress.fold(events)
    assert state.changes == {"create": 2, "same": 1} and state.duration == 10
    out = text(progress.render_summary(state, "up dev"))
    assert "up dev: 2 create, 1 same (10s)" in out
    assert "failed: create kubernetes:cert-manager.io/v1:Certificate kommander-ca" in out
    assert "error (kommander-ca): timed out waiting for Ready" in out


def test_events_from_the_engine_log_json() -> None:
    """The JSON the CLI writes to its event log, parsed by the SDK, folds the same way."""
    log = [
        {
            "sequence": 1,
            "timestamp": T0,
            "resourcePreEvent": {"metadata": {"op": "update", "urn": NS_URN, "type": "kubernetes:core/v1:Namespace"}},
        },
        {"sequence": 2, "timestamp": T0 + 4, "resOutputsEvent": {"metadata": {"op": "update", "urn": NS_URN}}},
        {
            "sequence": 3,
            "timestamp": T0 + 4,
            "diagnosticEvent": {"message": "deprecated field", "color": "never", "severity": "warning"},
        },
        {"sequence": 4, "timestamp": T0 + 5, "summaryEvent": {"durationSeconds": 5, "resourceChanges": {"update": 1}}},
    ]
    state = progress.fold(EngineEvent.from_json(e) for e in log)
    assert state.counts()["done"] == 1 and state.steps[NS_URN].op == "update"
    assert state.diagnostics == [("warning", "deprecated field", None)]
    assert "up dev: 1 update (5s)" in text(progress.render_summary(state, "up dev"))


def test_info_and_ephemeral_diagnostics_are_not_kept() -> None:
    state = progress.fold(
        [
            EngineEvent(1, T0, diagnostic_event=DiagnosticEvent("hello", "never", "info")),
            EngineEvent(2, T0, diagnostic_event=DiagnosticEvent("spinner", "never", "warning", ephemeral=True)),
        ]
    )
    assert state.diagnostics == []


def test_live_progress_collects_events_and_prints_the_summary() -> None:
    console = Console(record=True, width=160, color_system=None, force_terminal=False)
    with progress.LiveProgress(console, "destroy dev", enabled=False) as view:
        for event in recorded():
            view.on_event(event)
    assert view.progress.counts()["failed"] == 1
    assert "destroy dev: no resources" in console.export_text()


def test_ops_without_a_verb_show_as_themselves() -> None:
    events = [
        EngineEvent(1, T0, resource_pre_event=ResourcePreEvent(meta(OpType.DISCARD, NS_URN))),
        EngineEvent(2, T0, resource_pre_event=ResourcePreEvent(meta(OpType.DELETE, CA_URN))),
    ]
    lines = text(progress.render(progress.fold(events), "destroy dev", now=T0)).splitlines()
    assert any("discard" in line and "kommander-ns-kommander" in line for line in lines)
    assert any("deleting" in line and "kommander-ca" in line for line in lines)


def test_live_view_renders_on_a_terminal() -> None:
    import io

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160, color_system=None)
    with progress.LiveProgress(console, "up dev") as view:
        for event in recorded():
            view.on_event(event)
    out = buffer.getvalue()
    assert "up dev · 1 done · 1 running · 1 failed · 1 unchanged ·" in out  # drawn by the live view
    assert "up dev: no resources" in out  # the summary, after the live view is gone


def test_outside_a_terminal_each_step_is_one_line_as_it_happens() -> None:
    console = Console(record=True, width=80, color_system=None, force_terminal=False)
    seen: list[str] = []
    with progress.LiveProgress(console, "up dev", enabled=False) as view:
        for event in recorded():
            view.on_event(event)
            seen.append(console.export_text(clear=False))
    assert seen[1] == "creating kubernetes:core/v1:Namespace kommander-ns-kommander\n"  # before the step ends
    lines = console.export_text().splitlines()
    assert lines[:5] == [
        "creating kubernetes:core/v1:Namespace kommander-ns-kommander",
        "created kubernetes:core/v1:Namespace kommander-ns-kommander in 1s",
        "creating kubernetes:helm.sh/v3:Release kommander-flux",
        "creating kubernetes:cert-manager.io/v1:Certificate kommander-ca",
        "failed to create kubernetes:cert-manager.io/v1:Certificate kommander-ca after 6s",
    ]


KS_URN = "urn:pulumi:staging::kommander::kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization::shop-web-e1"
SECRET_URN = "urn:pulumi:staging::kommander::kubernetes:core/v1:Secret::shop-api-credentials"


def test_preview_diff_per_property_from_the_engine_log_json() -> None:
    """The detailed diff the engine reports for each step, with old and new inputs; secrets stay masked."""
    secret = {progress.SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2"}
    log = [
        {
            "sequence": 1,
            "timestamp": T0,
            "resourcePreEvent": {
                "metadata": {
                    "op": "update",
                    "urn": KS_URN,
                    "type": "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization",
                    "old": {"inputs": {"spec": {"suspend": False, "path": "./a", "interval": "1m"}, "metadata": {}}},
                    "new": {
                        "inputs": {
                            "spec": {"suspend": True, "path": "./a"},
                            "metadata": {"labels": {"kommander.d2iq.io/project": "shop"}},
                        }
                    },
                    "diffs": ["spec", "metadata"],
                    "detailedDiff": {
                        "spec.suspend": {"diffKind": "update", "inputDiff": True},
                        "spec.interval": {"diffKind": "delete", "inputDiff": True},
                        'metadata.labels["kommander.d2iq.io/project"]': {"diffKind": "add", "inputDiff": True},
                    },
                }
            },
        },
        {
            "sequence": 2,
            "timestamp": T0,
            "resourcePreEvent": {
                "metadata": {
                    "op": "replace",
                    "urn": SECRET_URN,
                    "type": "kubernetes:core/v1:Secret",
                    "old": {"inputs": {"stringData": secret, "metadata": {"name": "a"}}},
                    "new": {"inputs": {"stringData": secret, "metadata": {"name": "b"}}},
                    "diffs": ["stringData", "metadata"],
                    "detailedDiff": {
                        "metadata.name": {"diffKind": "update-replace", "inputDiff": True},
                        "stringData.password": {"diffKind": "update", "inputDiff": True},
                    },
                }
            },
        },
    ]
    state = progress.fold(EngineEvent.from_json(e) for e in log)
    assert progress.diff_lines(state.diffs.values()) == [
        "~ update kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization shop-web-e1",
        '    + metadata.labels["kommander.d2iq.io/project"]: "shop"',
        '    - spec.interval: "1m"',
        "    ~ spec.suspend: false => true",
        "+- replace kubernetes:core/v1:Secret shop-api-credentials",
        '    ~ metadata.name: "a" => "b" (forces replacement)',
        '    ~ stringData.password: "[secret]" => "[secret]"',
    ]
    assert "hunter2" not in repr(state.diffs)


def test_diff_without_a_detailed_diff_uses_the_changed_keys() -> None:
    meta = StepEventMetadata(
        op=OpType.UPDATE,
        urn=NS_URN,
        type="kubernetes:core/v1:Namespace",
        provider="",
        diffs=["metadata"],
        old=None,
        new=None,
    )
    assert progress.diff_lines([progress.step_diff(meta)]) == [
        "~ update kubernetes:core/v1:Namespace kommander-ns-kommander",
        "    ~ metadata: (none) => (none)",
    ]
