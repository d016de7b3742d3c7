"""Run the program under the SDK's mocks and record the whole resource graph.

``run(fn)`` sets fresh mocks with a :class:`RecordingMonitor`, runs ``fn`` inside a
Pulumi stack, waits for every registration, and returns a :class:`Graph`: each
resource's type, name, parent, dependencies, protect, provider and inputs, plus the
paths of inputs that were sent as secrets.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import ROOT, SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

SECRET_SIG = rpc._special_secret_sig
#: Resource types that are not one Kubernetes object (Helm releases, YAML and kustomize groups,
#: providers). ``kubernetes:kustomize.toolkit.fluxcd.io/...`` (a Flux Kustomization) is an object.
_NOT_OBJECTS = (
    "kubernetes:helm.sh/",
    "kubernetes:yaml:",
    "kubernetes:yaml/",
    "kubernetes:kustomize:",
    "kubernetes:kustomize/",
    "pulumi:providers",
)
SIG_KEY = rpc._special_sig_key


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    provider: str
    inputs: dict[str, Any]
    secret_paths: list[str]
    retain_on_delete: bool = False
    delete_before_replace: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    aliases: list[dict[str, Any]] = field(default_factory=list)
    """The aliases sent with the registration (``{"spec": {"name", "type", "parentUrn", ...}}``)."""

    @property
    def k8s_object(self) -> dict[str, Any] | None:
        """The Kubernetes object this resource applies, when it is one."""
        if not self.type.startswith("kubernetes:") or not self.custom:
            return None
        if self.type.startswith(_NOT_OBJECTS):
            return None
        obj = {k: v for k, v in self.inputs.items() if k not in ("__meta",)}
        return obj if "apiVersion" in obj and "kind" in obj else None


def _secret_paths(value: Any, path: str = "") -> list[str]:
    """Paths of every value sent to the engine wrapped as a secret."""
    out: list[str] = []
    if isinstance(value, Mapping):
        if value.get(SIG_KEY) == SECRET_SIG:
            return [path or "."]
        for k, v in value.items():
            out += _secret_paths(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _secret_paths(v, f"{path}[{i}]")
    return out


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that keeps every RegisterResource request, in order."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.component_outputs: dict[str, dict[str, Any]] = {}

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC name)
        """What a component (or the stack) registered with ``register_outputs``, by URN."""
        self.component_outputs[request.urn] = _unwrap(rpc.deserialize_properties(request.outputs, keep_internal=True))
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        raw = rpc.deserialize_properties(request.object, keep_internal=True)
        self.registrations.append(
            Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent,
                custom=request.custom,
                dependencies=list(request.dependencies),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                protect=bool(request.protect),
                provider=request.provider,
                inputs=_unwrap(raw),
                secret_paths=_secret_paths(_raw_struct(request.object)),
                retain_on_delete=bool(request.retainOnDelete),
                delete_before_replace=bool(request.deleteBeforeReplace),
                ignore_changes=list(request.ignoreChanges),
                aliases=[_raw_struct(a) for a in request.aliases],
            )
        )
        return response


def _raw_struct(struct: Any) -> Any:
    from google.protobuf import json_format

    return json_format.MessageToDict(struct)


def _unwrap(value: Any) -> Any:
    """Deserialized inputs with secret wrappers removed (values kept, for assertions)."""
    if isinstance(value, Mapping):
        if value.get(SIG_KEY) == SECRET_SIG:
            return _unwrap(value.get("value"))
        return {k: _unwrap(v) for k, v in value.items() if k != SIG_KEY}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


class Mocks(pulumi_mocks.Mocks):
    """Echo inputs as outputs, with the few computed outputs the program reads."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = copy.deepcopy(args.inputs)
        if args.typ.startswith("kubernetes:") and isinstance(state.get("metadata"), dict):
            state["metadata"].setdefault("name", args.name)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"mock-password-{args.name}-{state.get('length', 0)}"
        if args.typ == "random:index/randomString:RandomString":
            state["result"] = f"mock{args.name}".replace("-", "")[: int(state.get("length", 8))]
        if args.typ == "pulumi-python:dynamic:Resource" and {"url", "branch", "digest"} <= state.keys():
            # the repository publisher answers with the commit it pushed (a SHA-1 that follows the content)
            state["commit"] = hashlib.sha1(f"{args.name}:{state['digest']}".encode()).hexdigest()
        return f"{args.name}-id", state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class Graph:
    """The recorded resource graph of one program run."""

    def __init__(
        self,
        registrations: list[Registration],
        outputs: dict[str, Any],
        component_outputs: dict[str, Any] | None = None,
    ) -> None:
        self.resources = registrations
        self.outputs = outputs
        self.component_outputs = component_outputs or {}
        """URN -> the outputs registered with ``register_outputs`` (components and the stack)."""
        self.by_urn = {r.urn: r for r in registrations}

    def __iter__(self) -> Iterator[Registration]:
        return iter(self.resources)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registration:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Registration:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def k8s_objects(self) -> list[tuple[Registration, dict[str, Any]]]:
        return [(r, obj) for r in self.resources if (obj := r.k8s_object) is not None]

    def children(self, parent: Registration) -> list[Registration]:
        return [r for r in self.resources if r.parent == parent.urn]

    def ancestors(self, res: Registration) -> list[Registration]:
        out = []
        while res.parent in self.by_urn:
            res = self.by_urn[res.parent]
            out.append(res)
        return out

    def direct_deps(self, res: Registration) -> set[str]:
        deps = set(res.dependencies)
        for urns in res.property_dependencies.values():
            deps.update(urns)
        return deps

    def depends_on(self, a: Registration, b: Registration) -> bool:
        """True when the engine orders ``a`` after ``b`` (and deletes ``a`` first).

        Follows dependencies transitively; a dependency on a component stands for
        all of its descendants.
        """
        targets = {b.urn} | {r.urn for r in self.resources if b in self.ancestors(r)}
        seen: set[str] = set()
        stack = [a.urn]
        while stack:
            urn = stack.pop()
            for dep in self.direct_deps(self.by_urn[urn]) if urn in self.by_urn else ():
                if dep in targets:
                    return True
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
                    # a dependency on a component orders after all of its children
                    stack.extend(r.urn for r in self.resources if r.parent == dep)
        return False


def run(
    fn: Callable[[], Any],
    config: Mapping[str, Any] | None = None,
    secret_keys: list[str] | None = None,
    stack: str = "dev",
    preview: bool = False,
    record: bool = True,
) -> Graph:
    """Run ``fn`` as a Pulumi program under mocks; return the recorded graph.

    ``record=False`` runs it under the SDK's own ``MockMonitor``, which keeps no copy of
    the requests: the graph is then empty, and the run costs what the program and the
    SDK cost (what the benchmarks time), not the recording.
    """
    project = "kommander"
    flat = {
        (k if ":" in k else f"{project}:{k}"): (v if isinstance(v, str) else json.dumps(v))
        for k, v in (config or {}).items()
    }
    pulumi.runtime.set_all_config(flat, [k if ":" in k else f"{project}:{k}" for k in secret_keys or []])
    ROOT.set(None)  # a fresh root Stack per run, as a new `pulumi up` process has
    monitor = RecordingMonitor(Mocks()) if record else pulumi_mocks.MockMonitor(Mocks())
    pulumi_mocks.set_mocks(Mocks(), project=project, stack=stack, preview=preview, monitor=monitor)
    outputs: dict[str, Any] = {}
    original_export = pulumi.export

    def capture(name: str, value: Any) -> None:
        outputs[name] = value
        original_export(name, value)

    pulumi.export = capture  # type: ignore[assignment]
    # as pulumi.runtime.test does: no RPC or output of an earlier run in this process is waited on
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    try:
        _sync_await(run_pulumi_func(fn))
    finally:
        pulumi.export = original_export  # type: ignore[assignment]
        pulumi.runtime.set_all_config({}, [])
    resolved = {k: resolve(v) for k, v in outputs.items()}
    if isinstance(monitor, RecordingMonitor):
        return Graph(monitor.registrations, resolved, monitor.component_outputs)
    return Graph([], resolved)


def resolve(value: Any) -> Any:
    """The plain value of an Output (or nested structure of them), after the run."""
    out = pulumi.Output.from_input(value)
    return _sync_await(out.future())


def is_secret(value: Any) -> bool:
    return bool(_sync_await(pulumi.Output.from_input(value).is_secret()))
