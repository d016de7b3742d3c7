"""Rules every Flux object the program registers must follow, judged on the whole program.

The program runs with each shipped stack file (``dev``, and the prod-like ``staging``
and ``prod``: protect on, optional apps, attached clusters); every Flux Kustomization
and HelmRelease it registers is checked against what Flux documents for the field
(the CRDs' own descriptions in ``../shared/schemas/crds``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from harness import Graph, Registration
from schemas import shared
from stacks import STACKS, stack_graph

from components import catalog as cat

KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io", "Kustomization")
HELM_RELEASE = ("helm.toolkit.fluxcd.io", "HelmRelease")
FLUX_KINDS = (KUSTOMIZATION, HELM_RELEASE)


def flux_objects(graph: Graph, kind: tuple[str, str] | None = None) -> Iterator[tuple[Registration, dict[str, Any]]]:
    for res, obj in graph.k8s_objects():
        key = (obj["apiVersion"].split("/")[0], obj["kind"])
        if key in FLUX_KINDS and (kind is None or key == kind):
            yield res, obj


def key_of(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    return obj["apiVersion"].split("/")[0], obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]


def kustomization_field(field: str) -> str:
    """The description the Kustomization CRD (kustomize.toolkit.fluxcd.io/v1) gives ``spec.<field>``."""
    path = shared("schemas", "crds", "kustomize.toolkit.fluxcd.io_kustomizations.yaml")
    crd = yaml.safe_load(path.read_text())
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    text = v1["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][field]["description"]
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module", params=STACKS)
def graph(request: pytest.FixtureRequest) -> Graph:
    return stack_graph(request.param)


# --------------------------------------------------------------------------- dependsOn


def test_no_depends_on_points_at_a_suspended_or_missing_object(graph: Graph) -> None:
    """A dependency must be able to become Ready, or its dependant never reconciles.

    Flux: ``dependsOn`` lists objects "that must be ready before this Kustomization can be
    reconciled", and a suspended object is never reconciled, so it never becomes Ready
    (``suspend``: "This flag tells the controller to suspend subsequent kustomize
    executions"). The host-cluster AppDeployments of the releases Pulumi owns (flux,
    cert-manager, gitea) are suspended, so nothing may depend on them through Flux; nor on
    an object the stack does not create.
    """
    assert "must be ready before" in kustomization_field("dependsOn")
    assert "suspend subsequent" in kustomization_field("suspend")
    registered = {key_of(obj): obj for _, obj in flux_objects(graph)}
    problems = []
    for res, obj in flux_objects(graph):
        group, kind, namespace, _ = key_of(obj)
        for dep in obj["spec"].get("dependsOn") or []:
            target = (group, kind, dep.get("namespace") or namespace, dep["name"])
            if target not in registered:
                problems.append(f"{res.name}: dependsOn {target[2]}/{target[3]}, which the stack does not create")
            elif registered[target]["spec"].get("suspend"):
                problems.append(f"{res.name}: dependsOn {target[2]}/{target[3]}, which is suspended")
    assert problems == []


def test_trust_manager_waits_for_cert_manager_without_a_flux_dependency() -> None:
    """trust-manager needs cert-manager: on host-cluster Pulumi orders it (its Kustomization is
    registered only after the cert-manager Release Pulumi installs and waits for)."""
    graph = stack_graph("prod")
    (trust,) = [r for r, o in flux_objects(graph, KUSTOMIZATION) if o["metadata"]["name"] == "trust-manager"]
    assert "dependsOn" not in trust.inputs["spec"]
    assert graph.depends_on(trust, graph.one("kubernetes:helm.sh/v3:Release", "kommander-cert-manager-controllers"))


# --------------------------------------------------------------------------- wait and healthChecks


def test_no_kustomization_sets_health_checks_that_wait_ignores(graph: Graph) -> None:
    """Flux: with ``wait: true`` "the HealthChecks are ignored", so setting both promises a check
    that never runs. ``wait`` checks everything the Kustomization applies; ``healthChecks``
    (with ``wait: false``) checks the objects listed."""
    assert "When enabled, the HealthChecks are ignored" in kustomization_field("wait")
    both = [
        res.name
        for res, obj in flux_objects(graph, KUSTOMIZATION)
        if obj["spec"].get("wait") and obj["spec"].get("healthChecks")
    ]
    assert both == []


# --------------------------------------------------------------------------- protected data


def applied_objects(obj: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """What an AppDeployment Kustomization applies: its catalog folder, substituted as Flux does."""
    labels, annotations = obj["metadata"].get("labels") or {}, obj["metadata"].get("annotations") or {}
    app, version = labels.get("kommander.d2iq.io/application"), annotations.get("kommander.d2iq.io/version")
    if not app or not version:
        return []
    folder = cat.applications_dir(cat.DEFAULT_ROOT)
    assert folder is not None
    variables = obj["spec"]["postBuild"]["substitute"]
    return [key_of(doc) for doc in cat.rendered_documents(folder / app / version, variables) if "kind" in doc]


def orphans_on_delete(spec: dict[str, Any]) -> bool:
    """Whether deleting the Kustomization leaves what it applied (Flux ``deletionPolicy``):
    ``MirrorPrune`` (the default) "mirrors the Prune field (orphan if false, delete if true)"."""
    policy = spec.get("deletionPolicy", "MirrorPrune")
    return policy == "Orphan" or (policy == "MirrorPrune" and not spec.get("prune", False))


@pytest.mark.parametrize("stack", [s for s in STACKS if s != "dev"])
def test_no_kustomization_can_delete_a_protected_object(stack: str) -> None:
    """With protect on, the stack's stateful objects (the Gitea and ChartMuseum HelmReleases,
    whose charts keep data on volumes) are protected: Pulumi refuses to delete them. Their
    AppDeployments' Kustomizations apply the same objects; deleting or replacing such a
    Kustomization must not garbage-collect them (Flux would delete the HelmRelease, and Helm
    would uninstall the release with its volume)."""
    description = kustomization_field("deletionPolicy")
    assert "'MirrorPrune' mirrors the Prune field (orphan if false, delete if true)" in description
    assert "Defaults to 'MirrorPrune'" in description
    graph = stack_graph(stack)
    protected = {key_of(obj) for res, obj in graph.k8s_objects() if res.protect}
    assert any(k[1] == "HelmRelease" for k in protected), "expected protected HelmReleases with protect on"
    problems = [
        f"{res.name} applies protected {k[1]} {k[2]}/{k[3]} and deletes it when deleted"
        for res, obj in flux_objects(graph, KUSTOMIZATION)
        if "kubeConfig" not in obj["spec"]
        for k in applied_objects(obj)
        if k in protected and not orphans_on_delete(obj["spec"])
    ]
    assert problems == []
