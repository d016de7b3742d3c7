"""benchmarks/run.py: the baselines register what the program registers, and the critical-path model."""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import pickle
from pathlib import Path
from typing import Any

import harness
import pytest
from harness import Graph, Registration, run

from components import gc_policy

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("benchmarks_run", ROOT / "benchmarks" / "run.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


Key = tuple[str, str]


def customs(graph: Graph) -> dict[Key, tuple[dict[str, Any], set[Key], list[str], dict[str, set[Key]]]]:
    """(type, name) -> (inputs without null values, the custom resources it depends on,
    the paths sent as secrets, per property the custom resources its value came from)."""

    def key(urn: str) -> Key:
        return graph.by_urn[urn].type, graph.by_urn[urn].name

    out = {}
    for r in graph:
        if not r.custom:
            continue
        deps = {d for d in graph.direct_deps(r) if d in graph.by_urn and graph.by_urn[d].custom}
        inputs = {k: v for k, v in r.inputs.items() if v is not None}
        data = {k: {key(u) for u in urns if graph.by_urn[u].custom} for k, urns in r.property_dependencies.items()}
        out[key(r.urn)] = (inputs, {key(d) for d in deps}, sorted(r.secret_paths), {k: v for k, v in data.items() if v})
    return out


@pytest.fixture(scope="module")
def full() -> Graph:
    return run(bench.full_program(bench.generated_config(6, sources=2, clusters=3)))


@pytest.mark.parametrize("typed", [True, False], ids=["pulumi_kubernetes classes", "bare registrations"])
def test_flat_baselines_register_the_same_objects_with_the_same_dependencies(full: Graph, typed: bool) -> None:
    flat = run(bench.flat_program(full, typed=typed))
    assert all(not r.custom or r.parent.endswith("::kommander-dev") for r in flat)  # no components
    assert not [r for r in flat if not r.custom]
    expected, got = customs(full), customs(flat)
    assert len(expected) > 100 and got.keys() == expected.keys()
    assert any(secrets for _, _, secrets, _ in expected.values())
    assert any(data for _, _, _, data in expected.values())
    for key, want in expected.items():
        assert got[key] == want, key


def test_tree_baseline_keeps_the_component_tree_and_the_objects(full: Graph) -> None:
    tree = run(bench.flat_program(full, typed=True, tree=True))
    assert customs(tree) == customs(full)

    def shape(graph: Graph) -> set[tuple[str, str, str]]:
        return {(r.type, r.name, graph.by_urn[r.parent].name if r.parent in graph.by_urn else "") for r in graph}

    assert shape(tree) == shape(full)
    assert sum(not r.custom for r in tree) == sum(not r.custom for r in full) > 10


def test_kubernetes_class_maps_type_tokens_to_the_sdk_classes() -> None:
    assert bench.kubernetes_class("kubernetes:helm.sh/v3:Release") is None
    assert bench.kubernetes_class("random:index/randomPassword:RandomPassword") is None

    def built(type_: str, inputs: dict[str, Any]) -> Any:
        holder: list[Any] = []

        def program() -> None:
            cls = bench.kubernetes_class(type_)
            holder.append(cls("x", inputs, None))

        run(program)
        return holder[0]

    ns = built("kubernetes:core/v1:Namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
    assert type(ns).__module__ == "pulumi_kubernetes.core.v1.Namespace"
    binding = built(
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
        {"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}},
    )
    assert type(binding).__name__ == "RoleBinding"
    ks = built(
        "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization",
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "k"}},
    )
    assert type(ks).__name__ == "CustomResource"


def reg(name: str, type_: str, deps: list[str] = (), parent: str = "", custom: bool = True) -> Registration:  # type: ignore[assignment]
    return Registration(type_, name, name, parent, custom, list(deps), {}, False, "", {}, [])


def test_critical_path_runs_independent_chains_in_parallel() -> None:
    release, helm_release = "kubernetes:helm.sh/v3:Release", "kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease"
    graph = Graph(
        [
            reg("comp", "kommander:index:X", custom=False),
            reg("flux", release, parent="comp"),
            reg("app", helm_release, deps=["flux"]),
            reg("cm", "kubernetes:core/v1:ConfigMap", deps=["comp"]),
            reg("other", release),
        ],
        {},
    )
    parallel, sequential, chain, waited = bench.critical_path(graph)
    assert parallel == 90 + 60  # flux then app; "other" runs beside them, "cm" after comp
    assert sequential == 90 + 60 + 0.5 + 90
    assert (chain, waited) == (2, 3)


def test_generated_config_has_the_requested_shape() -> None:
    raw = bench.generated_config(50)
    assert len(raw["projects"]) == 50 and {len(p["sources"]) for p in raw["projects"]} == {4}
    assert len(raw["workspaces"]) == 13 and {len(w["clusters"]) for w in raw["workspaces"]} == {10}
    assert {p["workspace"] for p in raw["projects"]} == {w["name"] for w in raw["workspaces"]}


@pytest.mark.parametrize("collector", bench.COLLECTORS)
def test_a_timed_child_runs_under_the_collector_it_is_given(
    collector: str, full: Graph, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gc.set_threshold(700, 10, 10)
    graph_file = tmp_path / "graph.pickle"
    graph_file.write_bytes(pickle.dumps(full))
    assert bench.child("typed", 1, graph_file, collector) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["seconds"] > 0
    expected = gc_policy.NO_FULL_COLLECTIONS if collector == "program" else 10
    assert gc.get_threshold() == (700, 10, expected)


FULL50, FULL200 = ("full", 50, "program"), ("full", 200, "program")
FLAT50, TREE50 = ("typed", 50, "program"), ("tree", 50, "program")
PAIRS = [
    (FULL50, FLAT50),
    (FULL50, FULL200),
    (TREE50, FLAT50),
    (("plain", 50, "program"), ("secret", 50, "program")),
    (("full", 50, "python"), ("full", 200, "python")),
]


def test_every_repetition_runs_each_pair_side_by_side_in_alternating_order() -> None:
    repetitions = bench.schedule(4)
    assert len(repetitions) == 4
    for repetition in repetitions:
        assert sorted(repetition) == sorted(bench.REPETITION)
        for a, b in PAIRS:
            assert abs(repetition.index(a) - repetition.index(b)) == 1, (a, b)
    first, second = repetitions[0], repetitions[1]
    assert second == first[::-1] and repetitions[2] == first
    assert first.index(FULL50) > first.index(FLAT50) and second.index(FULL50) < second.index(FLAT50)


def test_a_paired_ratio_is_the_median_of_the_ratios_within_each_repetition() -> None:
    times = {FULL50: [2.0, 6.0, 3.3], FLAT50: [1.0, 5.0, 3.0]}
    median, low, high = bench.paired(times, FULL50, FLAT50)
    # the repetitions' ratios are 2.0, 1.2 and 1.1; the ratio of the medians would be 1.1
    assert (median, low, high) == pytest.approx((1.2, 1.1, 2.0))
    with pytest.raises(ValueError):
        bench.paired({FULL50: [1.0], FLAT50: [1.0, 2.0]}, FULL50, FLAT50)


def test_timed_runs_do_not_pay_for_the_tests_recording(
    full: Graph, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Any, request: Any) -> Any:
        raise AssertionError("a timed run must not record")

    monkeypatch.setattr(harness.RecordingMonitor, "RegisterResource", refuse)
    with pytest.raises(Exception, match="a timed run must not record"):  # the control: recording runs call it
        run(bench.full_program(bench.generated_config(1)))
    graph_file = tmp_path / "graph.pickle"
    graph_file.write_bytes(pickle.dumps(full))
    for program in ("full", "typed"):
        assert bench.child(program, 1, graph_file if program != "full" else None) == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["seconds"] > 0


def test_a_timed_child_process_runs_on_one_core(full: Graph, tmp_path: Path) -> None:
    graph_file = tmp_path / "graph.pickle"
    graph_file.write_bytes(pickle.dumps(full))
    result = bench.child_process("typed", 1, graph_file)
    # where the OS sets no affinity (macOS) the child runs where it is put
    assert result["cores"] == (1 if hasattr(os, "sched_setaffinity") else os.cpu_count())
    assert result["seconds"] > 0
