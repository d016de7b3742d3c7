"""components.k8s.Component: a depends_on on a component is carried by every child, not by the component."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.k8s import Component, meta


class Box(Component):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:Box", name, opts)
        first = k8s.core.v1.ConfigMap(f"{name}-first", metadata=meta("first", "ns"), opts=self.child())
        k8s.core.v1.ConfigMap(f"{name}-second", metadata=meta("second", "ns"), opts=self.child(depends_on=[first]))
        self.inner = Inner(f"{name}-inner", opts=self.child())
        self.register_outputs({})


class Inner(Component):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kommander:index:Inner", name, opts)
        k8s.core.v1.ConfigMap(f"{name}-leaf", metadata=meta("leaf", "ns"), opts=self.child())
        self.register_outputs({})


def test_children_carry_the_components_dependencies_and_the_component_registers_without_them(program) -> None:
    def fn() -> None:
        before = k8s.core.v1.Namespace("before", metadata=meta("ns"))
        Box("box", pulumi.ResourceOptions(depends_on=[before], protect=True))

    graph = program(fn)
    before = graph.named("before").urn
    box, inner = graph.named("box"), graph.named("box-inner")
    assert box.dependencies == [] and inner.dependencies == []  # nothing waits twice for the same objects
    assert box.protect, "the component's other options are kept"
    first = graph.named("box-first")
    assert first.dependencies == [before]
    assert sorted(graph.named("box-second").dependencies) == sorted([before, first.urn])
    assert graph.named("box-inner-leaf").dependencies == [before], "nested components pass them down too"
    for child in ("box-first", "box-second", "box-inner-leaf"):
        assert graph.depends_on(graph.named(child), graph.named("before"))


def test_a_component_without_dependencies_gives_its_children_none(program) -> None:
    graph = program(lambda: Box("box"))
    assert all(r.dependencies == [] for r in graph if r.name != "box-second")
    assert graph.named("box-second").dependencies == [graph.named("box-first").urn]
