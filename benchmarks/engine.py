"""Real-engine figures: generated stacks under the real ``pulumi`` engine and providers, against the e2e suite's
API server, one run for every size side by side.

    .venv/bin/python benchmarks/engine.py [--sizes 10 50 200] [--budget 1500] [--markdown benchmarks/README.md]

It starts what ``tests/e2e`` starts (its toolchain, control plane, status writer, stand-in charts and Gitea: the
modules are imported, not copied), then for each size a prod-like stack of ``tests/e2e/prodlike.py`` (``N``
projects, ``--sources`` sources each, workspaces of five projects with ``--clusters`` attached clusters each):

- wall time of ``python -m automation preview``, the first ``up`` and a no-op ``up`` (what a user runs);
- the first ``up`` against a floor: the same Kubernetes objects (the inputs the state records) applied with one
  ``kubectl apply --server-side`` on an empty cluster with the CRDs in place;
- exported state bytes per resource, and the peak memory of the engine (the ``pulumi`` process) and of the whole
  process tree (engine, language host, program, providers), polled from ``/proc``.

Sizes run smallest first; a size whose estimated time (linear in the resources, from the last size) would pass
``--budget`` seconds is not run and the table says so.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import prodlike  # noqa: E402
from charts import CERT_MANAGER_PREFIXES, FLUX_PREFIXES, cert_manager_chart, flux_chart, upstream_crds  # noqa: E402
from cluster import ControlPlane  # noqa: E402
from controllers import StatusWriter  # noqa: E402
from gitserver import GitServer  # noqa: E402
from stack import Env, Stack, descendants  # noqa: E402

KUBECTL = "/usr/bin/kubectl"
SECTION = "## Real engine"


@dataclass
class Run:
    seconds: float
    code: int
    out: str
    err: str
    engine_peak: int = 0
    tree_peak: int = 0

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.out)


@dataclass
class Figures:
    projects: int
    resources: int = 0
    preview: float = 0.0
    first_up: float = 0.0
    noop_up: float = 0.0
    floor: float = 0.0
    floor_objects: int = 0
    state_bytes: int = 0
    engine_peak: int = 0
    tree_peak: int = 0
    notes: list[str] = field(default_factory=list)


def rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def name_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def timed(stack: Stack, command: str, *args: str) -> Run:
    """``python -m automation <command>`` on ``stack``, its wall time and peak memory (polled every 0.2 s)."""
    python = str(stack.project / ".venv" / "bin" / "python")
    start = time.monotonic()
    proc = subprocess.Popen(
        [python, "-m", "automation", command, "--stack", stack.name, *args],
        cwd=stack.project,
        env=stack.process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peaks = [0, 0]

    def poll() -> None:
        while proc.poll() is None:
            tree = [proc.pid, *descendants(proc.pid)]
            sizes = {pid: rss(pid) for pid in tree}
            peaks[0] = max(peaks[0], sum(s for pid, s in sizes.items() if name_of(pid) == "pulumi"))
            peaks[1] = max(peaks[1], sum(sizes.values()))
            time.sleep(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    seconds = time.monotonic() - start
    watcher.join()
    return Run(seconds, proc.returncode, out, err, peaks[0], peaks[1])


def check(run: Run, what: str) -> Run:
    if run.code != 0:
        raise SystemExit(f"{what} failed (exit {run.code}): {run.err.strip().splitlines()[-1:]}")
    return run


def kubectl(env: Env, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(env.plane.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def desired_objects(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The Kubernetes objects of the state as the stack sent them (inputs), Helm releases excepted; secret inputs
    are recorded encrypted, so a Secret gets a placeholder value of the same keys."""
    docs = []
    for r in state["resources"]:
        t = r["type"]
        if not t.startswith("kubernetes:") or t.startswith(("kubernetes:helm.sh/", "pulumi:providers")):
            continue
        obj = {k: v for k, v in (r.get("inputs") or {}).items() if not k.startswith("__")}
        if "apiVersion" not in obj or "kind" not in obj:
            continue
        for key in ("data", "stringData"):
            value = obj.get(key)
            if isinstance(value, dict) and "ciphertext" in value:
                obj[key] = {"value": base64.b64encode(b"placeholder").decode() if key == "data" else "placeholder"}
        docs.append(obj)
    order = {"Namespace": 0, "CustomResourceDefinition": 0}
    return sorted(docs, key=lambda d: order.get(d["kind"], 1))


def floor(env: Env, objects: list[dict[str, Any]], workdir: Path) -> float:
    """One ``kubectl apply --server-side`` of ``objects`` on the (emptied) cluster, CRDs applied first untimed;
    everything removed again afterwards."""
    import yaml

    crds = workdir / "crds.yaml"
    crds.write_text(yaml.safe_dump_all(upstream_crds(FLUX_PREFIXES) + upstream_crds(CERT_MANAGER_PREFIXES)))
    done = kubectl(env, "apply", "--server-side", "-f", str(crds))
    if done.returncode != 0:
        raise SystemExit(f"kubectl apply of the CRDs: {done.stderr.strip()}")
    kubectl(env, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    path = workdir / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    start = time.monotonic()
    done = kubectl(env, "apply", "--server-side", "--force-conflicts", "-f", str(path))
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"kubectl apply --server-side of the stack's objects: {done.stderr.strip()[-2000:]}")
    kubectl(env, "delete", "--wait=false", "-f", str(path))
    namespaces = [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"]
    kubectl(env, "delete", "namespace", "--wait=true", "--timeout=300s", *namespaces)
    kubectl(env, "delete", "-f", str(crds), "--wait=true", "--timeout=120s")
    return seconds


def measure(env: Env, projects: int, sources: int, clusters: int, parallel: int | None) -> Figures:
    figures = Figures(projects)
    name = f"bench{projects}"
    stack = prodlike.create(env, name, projects=projects, sources=sources, clusters=clusters)
    extra = ["--parallel", str(parallel)] if parallel else []
    preview = check(timed(stack, "preview", "--json", *extra), f"preview of {projects} projects")
    figures.preview = preview.seconds
    up = check(timed(stack, "up", "--json", *extra), f"first up of {projects} projects")
    figures.first_up, figures.engine_peak, figures.tree_peak = up.seconds, up.engine_peak, up.tree_peak
    figures.resources = up.json["changes"].get("create", 0)
    noop = check(timed(stack, "up", "--json", *extra), f"no-op up of {projects} projects")
    if noop.json["changed"]:
        figures.notes.append(f"the second up changed {noop.json['changes']}")
    figures.noop_up = noop.seconds
    figures.engine_peak = max(figures.engine_peak, noop.engine_peak)
    figures.tree_peak = max(figures.tree_peak, noop.tree_peak)
    exported = stack.export()
    state = json.loads(exported)["deployment"]
    figures.state_bytes = len(exported.encode())
    objects = desired_objects(state)
    figures.floor_objects = len(objects)
    check(timed(stack, "destroy", "--yes", "--json"), f"destroy of {projects} projects")
    figures.floor = floor(env, objects, stack.project)
    return figures


def session(workdir: Path) -> tuple[Env, list[Any]]:
    """What the e2e suite's fixtures start (tests/e2e/conftest.py), the toolchain from ``tools/e2e/install.sh``."""
    from kubernetes import client
    from kubernetes import config as kube_config

    toolchain = Path(
        os.environ.get("KOMMANDER_E2E_ROOT")
        or subprocess.run(
            ["bash", str(ROOT / "tools" / "e2e" / "install.sh")], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
    )
    plane = ControlPlane(toolchain / "bin", workdir / "cluster")
    plane.start()
    kube = kube_config.new_client_from_config(config_file=str(plane.kubeconfig))
    writer = StatusWriter(kube)
    writer.start()
    charts = {"flux": flux_chart(workdir / "charts"), "certManager": cert_manager_chart(workdir / "charts")}
    core = client.CoreV1Api(kube)

    def admin_password() -> str:
        try:
            secret = core.read_namespaced_secret("gitea-admin", "kommander")
        except client.exceptions.ApiException:
            return ""
        return base64.b64decode((secret.data or {}).get("password", "")).decode()

    gitea = GitServer(workdir / "gitea", password=admin_password).start()
    gitea.create("kommander-admin", "kommander")
    return Env(toolchain, plane, writer, charts, gitea, workdir), [gitea, writer, plane]


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def table(rows: list[Figures], skipped: list[str], args: argparse.Namespace) -> str:
    lines = [
        SECTION,
        "",
        f"Produced by `.venv/bin/python benchmarks/engine.py --sizes {' '.join(map(str, args.sizes))}"
        f"{f' --parallel {args.parallel}' if args.parallel else ''}` on {os.cpu_count()} cores, "
        f"{platform.machine()}, CPython {platform.python_version()}: the real `pulumi` engine and providers of "
        f"`tools/e2e` against the e2e suite's kube-apiserver; {args.sources} sources per project, workspaces of "
        f"five projects with {args.clusters} attached clusters each. One run, sizes side by side.",
        "",
        "| projects | resources | preview | first up | no-op up | no-op / first | floor (kubectl, objects) "
        "| first up / floor | state bytes / resource | engine peak | tree peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in rows:
        lines.append(
            f"| {f.projects} | {f.resources} | {f.preview:.1f} s | {f.first_up:.1f} s | {f.noop_up:.1f} s "
            f"| {f.noop_up / f.first_up:.2f} | {f.floor:.1f} s, {f.floor_objects} | {f.first_up / f.floor:.1f}x "
            f"| {f.state_bytes / max(f.resources, 1):.0f} | {mib(f.engine_peak)} | {mib(f.tree_peak)} |"
        )
    by = {f.projects: f for f in rows}
    if 50 in by and 200 in by:
        a, b = by[50], by[200]
        ratio = b.resources / a.resources
        lines += [
            "",
            f"T(200)/T(50): preview {b.preview / a.preview:.2f}, no-op up {b.noop_up / a.noop_up:.2f}; "
            f"resource ratio {ratio:.2f} (goal: at most {1.1 * ratio:.2f}).",
        ]
    for f in rows:
        lines += [f"- {f.projects} projects: {n}" for n in f.notes]
    lines += [f"- not run: {s}" for s in skipped]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--sources", type=int, default=3)
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--parallel", type=int, help="the engine's --parallel (default: the engine's)")
    parser.add_argument("--budget", type=float, default=1500, help="seconds for the whole run")
    parser.add_argument("--markdown", type=Path, help="write the table into this file's '## Real engine' section")
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows: list[Figures] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kommander-bench-") as tmp:
        env, stoppers = session(Path(tmp))
        try:
            per_resource = 0.0
            for size in sorted(args.sizes):
                elapsed = time.monotonic() - started
                if rows:
                    last = rows[-1]
                    estimate = per_resource * last.resources * size / last.projects
                    if elapsed + estimate > args.budget:
                        skipped.append(
                            f"{size} projects (estimated {estimate / 60:.0f} min from {last.projects} projects; "
                            f"{(args.budget - elapsed) / 60:.0f} min of the budget left)"
                        )
                        continue
                begin = time.monotonic()
                figures = measure(env, size, args.sources, args.clusters, args.parallel)
                per_resource = (time.monotonic() - begin) / max(figures.resources, 1)
                rows.append(figures)
                print(json.dumps(figures.__dict__), flush=True)
        finally:
            for s in stoppers:
                s.stop()
    section = table(rows, skipped, args)
    print(section)
    if args.markdown:
        write_markdown(args.markdown, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
