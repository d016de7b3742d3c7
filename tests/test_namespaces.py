"""Namespaces: names from config, labels, parenting."""

from __future__ import annotations

from components.namespaces import Namespaces, NamespacesArgs


def test_namespaces_are_children_with_labels(program) -> None:
    graph = program(lambda: Namespaces("ns", NamespacesArgs("kmd", "kmd-flux", "certs", {"team": "platform"})))
    comp = graph.one("kommander:index:Namespaces", "ns")
    namespaces = graph.of_type("kubernetes:core/v1:Namespace")
    assert sorted(n.inputs["metadata"]["name"] for n in namespaces) == ["certs", "kmd", "kmd-flux"]
    assert sorted(n.name for n in namespaces) == ["ns-cert-manager", "ns-flux", "ns-kommander"]
    for ns in namespaces:
        assert ns.parent == comp.urn
        assert ns.inputs["metadata"]["labels"]["team"] == "platform"
        assert ns.inputs["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kommander-pulumi"
        assert not ns.protect
