"""Interrupted updates and their recovery: the engine SIGKILLed in the middle of an ``up`` that creates many
resources, the repository publisher SIGKILLed in the middle of its push, and an ``up --skip-checkpoints``
SIGKILLed while it creates projects; then the README's recovery
(Operations, "An interrupted up") converges with nothing lost and no duplicate object on the server.
In order, one stack.

This module runs after test_lifecycle (file order): its destroy must not precede the deletes whose order that
module reads from the audit log."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prodlike
import pytest
from kubernetes import client, dynamic
from stack import ROOT, Env, Result, Stack

MANAGED = "app.kubernetes.io/managed-by=kommander-pulumi"


def catalog(env: Env) -> Path:
    """A user's catalog checkout (a copy of the bundled one), edited by the publisher scenario."""
    root = env.session_dir / "interrupt-catalog"
    if not root.exists():
        shutil.copytree(ROOT / "applications", root / "applications")
    return root


@pytest.fixture(scope="module")
def interrupted(env: Env) -> Iterator[Stack]:
    with prodlike.repository(env):
        stack = env.stack("interrupt")
        cfg = prodlike.config(env, "interrupt", projects=6, sources=2, clusters=2)
        cfg["kommander:applicationsPath"] = str(catalog(env))
        stack.write_config(cfg)
        stack.init()
        prodlike.set_kubeconfigs(stack, cfg)
        yield stack
        stack.run("destroy", "--json")
        # whatever the outcome, no Helm release of this stack may stay for the next module to trip over
        for namespace, release in helm_releases(stack):
            subprocess.run(
                ["kubectl", "-n", namespace, "delete", "secret", "-l", f"owner=helm,name={release}"],
                env=stack.process_env(),
                capture_output=True,
            )


def recover(stack: Stack) -> list[Result]:
    """The README's recovery after an interrupted ``up`` on the local backend (Operations, "An interrupted up"),
    step by step, with the commands it gives."""
    steps = []
    # 1. a kill during the state file's write leaves its metadata file empty ("failed to load checkpoint: EOF")
    proc = subprocess.run(
        ["find", ".pulumi-state", "-name", "*.attrs", "-empty", "-delete"], cwd=stack.project, capture_output=True
    )
    steps.append(Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode()))
    # 2. the lock of the killed run; 3. the creates the engine never saw finish
    steps.append(stack.pulumi("cancel", "--yes", check=False))
    steps.append(stack.pulumi("refresh", "--clear-pending-creates", "--yes", "--skip-preview", check=False))
    # 4. a Helm release the kill left behind that the state does not hold (its install cut off, or finished
    #    unrecorded): its records go, the up installs it again and Helm takes over what it had created
    recorded = {r["id"] for r in state(stack)["resources"] if r["type"] == "kubernetes:helm.sh/v3:Release"}
    for namespace, release in helm_releases(stack) - {tuple(i.split("/", 1)) for i in recorded}:
        proc = subprocess.run(
            ["kubectl", "-n", namespace, "delete", "secret", "-l", f"owner=helm,name={release}"],
            env=stack.process_env(),
            capture_output=True,
        )
        steps.append(Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode()))
    steps.append(stack.run("up", "--json"))
    return steps


def helm_releases(stack: Stack) -> set[tuple[str, str]]:
    """(namespace, release) of every Helm release record on the server (``kubectl get secret -A -l owner=helm``)."""
    proc = subprocess.run(
        ["kubectl", "get", "secret", "-A", "-l", "owner=helm", "-o", "json"],
        env=stack.process_env(),
        capture_output=True,
        check=True,
    )
    return {
        (item["metadata"]["namespace"], item["metadata"]["labels"]["name"]) for item in json.loads(proc.stdout)["items"]
    }


def state(stack: Stack) -> dict[str, Any]:
    return json.loads(stack.export())["deployment"]


def kubernetes_objects(stack: Stack) -> set[tuple[str, str]]:
    """(type, id) of every Kubernetes object in the state (Helm releases excepted: not one object)."""
    return {
        (r["type"], r["id"])
        for r in state(stack)["resources"]
        if r["type"].startswith("kubernetes:")
        and not r["type"].startswith("kubernetes:helm.sh/")
        and r["type"] != "pulumi:providers:kubernetes"
        and r.get("id")
    }


def server_objects(kube, types: set[str]) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(type, namespace/name) of every object of ``types`` on the server that carries the stack's managed-by label."""
    dyn = dynamic.DynamicClient(kube)
    out = set()
    for type_ in types:
        _, group_version, kind = type_.split(":")
        group, _, version = group_version.rpartition("/")
        api_version = version if group == "core" else f"{group}/{version}"
        resource = dyn.resources.get(api_version=api_version, kind=kind)
        for item in resource.get(label_selector=MANAGED).items:
            meta = item.metadata
            out.add((type_, f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name))
    return out


def assert_converged(stack: Stack, kube) -> None:  # type: ignore[no-untyped-def]
    """Nothing the state names is missing on the server, and no object the stack labels is unknown to the state
    (a duplicate made by a lost create would be)."""
    pending = state(stack).get("pending_operations") or []
    assert not pending, f"pending operations left: {[p['resource']['urn'] for p in pending]}"
    in_state = kubernetes_objects(stack)
    on_server = server_objects(kube, {t for t, _ in in_state})
    assert in_state - on_server == set(), f"in the state, not on the server: {sorted(in_state - on_server)}"
    assert on_server - in_state == set(), f"on the server, not in the state: {sorted(on_server - in_state)}"
    if stack.run("preview", "--expect-no-changes", "--json").code != 0:
        diff = stack.pulumi("preview", "--diff", check=False)
        raise AssertionError(f"changes after the recovery:\n{diff.stdout[-4000:]}")


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_engine_killed_in_the_middle_of_a_big_up(interrupted: Stack, kube) -> None:  # type: ignore[no-untyped-def]
    """Killed while Helm installs a controller (its release record just written): about a third of the
    resources exist, some creates are in flight, one of them a Helm install."""
    core = client.CoreV1Api(kube)

    def helm_records() -> list[str]:
        return [s.metadata.name for s in core.list_secret_for_all_namespaces(label_selector="owner=helm").items]

    proc = interrupted.start("up", "--json")
    try:
        wait_for(lambda: bool(helm_records()) or proc.poll() is not None, 300, "a Helm install")
        time.sleep(0.3)
    finally:
        interrupted.kill(proc)
    assert proc.returncode != 0, "the up finished before it could be interrupted"

    steps = recover(interrupted)
    for step in steps:
        assert step.code == 0, f"recovery step failed: {step}"
    assert_converged(interrupted, kube)
    assert len(kubernetes_objects(interrupted)) > 100


def test_publisher_killed_in_the_middle_of_a_push(interrupted: Stack, env: Env, kube) -> None:  # type: ignore[no-untyped-def]
    bare = env.gitea.bare()

    def head() -> str:
        return subprocess.run(
            ["git", "-C", str(bare), "rev-parse", "main"], capture_output=True, text=True, check=True
        ).stdout.strip()

    before = head()
    # a catalog change: the next up pushes one commit
    values = sorted((catalog(env) / "applications").rglob("*.yaml"))[0]
    values.write_text(values.read_text() + "# edited by the interrupted-push scenario\n")
    # Gitea's side of the push takes a while (its hooks), so the engine dies with the push in flight
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\ncat >/dev/null\nsleep 6\n")
    hook.chmod(0o755)
    pushes = sum(1 for r in env.gitea.requests if r.startswith("POST") and "git-receive-pack" in r)
    proc = interrupted.start("up", "--json")
    try:
        wait_for(
            lambda: (
                sum(1 for r in env.gitea.requests if r.startswith("POST") and "git-receive-pack" in r) > pushes
                or proc.poll() is not None
            ),
            300,
            "the publisher's push",
        )
    finally:
        interrupted.kill(proc)
    assert proc.returncode != 0, "the up finished before it could be interrupted"
    hook.unlink()
    wait_for(lambda: head() != before, 30, "the push the server was still taking to land")
    landed = head()

    for step in recover(interrupted):
        assert step.code == 0, f"recovery step failed: {step}"
    outputs = interrupted.ok("outputs", "--json").json["outputs"]
    assert outputs["managementRepositoryCommit"] == head() == landed, "the publisher pushed a second commit"
    count = subprocess.run(
        ["git", "-C", str(bare), "rev-list", "--count", f"{before}..main"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert count == "1"
    assert_converged(interrupted, kube)


def test_engine_killed_during_an_up_that_skips_checkpoints(interrupted: Stack, env: Env, kube) -> None:  # type: ignore[no-untyped-def]
    """``up --skip-checkpoints`` (README, State writes) killed while it creates four more projects: the state is
    the one from before that ``up``, and the README's steps converge, taking over what the killed run created
    (nothing lost, no duplicate)."""
    before = kubernetes_objects(interrupted)
    cfg = prodlike.config(env, "interrupt", projects=10, sources=2, clusters=2)  # the same two workspaces
    cfg["kommander:applicationsPath"] = str(catalog(env))
    prodlike.reconfigure(interrupted, cfg)
    core = client.CoreV1Api(kube)
    new = {f"p{p}" for p in range(6, 10)}

    def created() -> int:
        return len(new & {ns.metadata.name for ns in core.list_namespace().items})

    proc = interrupted.start("up", "--json", "--skip-checkpoints")
    try:
        wait_for(lambda: created() >= 2 or proc.poll() is not None, 300, "the new projects' namespaces")
        time.sleep(1.0)
    finally:
        interrupted.kill(proc)
    assert proc.returncode != 0, "the up finished before it could be interrupted"
    assert kubernetes_objects(interrupted) == before, "a killed up that skips checkpoints recorded something"
    assert created() >= 2, "the killed run created nothing to take over"

    for step in recover(interrupted):
        assert step.code == 0, f"recovery step failed: {step}"
    assert_converged(interrupted, kube)
    namespaces = {obj.split("/")[-1] for t, obj in kubernetes_objects(interrupted) if t.endswith(":Namespace")}
    assert new <= namespaces
