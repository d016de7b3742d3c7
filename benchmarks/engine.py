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


TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    seconds: float
    code: int
    out: str
    err: str
    engine_peak: int = 0
    tree_peak: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds (user + system) by process role over the command: the driver's tree (``driver``, ``engine``,
    ``language host``, ``program``, ``kubernetes provider``, ...), and ``kube-apiserver``, ``etcd``, ``status
    writer`` (its thread), ``machine`` (every core's busy time, other people's work included)."""

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.out)


@dataclass
class Variant:
    """One way of running the commands, measured side by side with the others: ``NAME[:SETTING,...]``, a setting
    being ``ENV=VALUE`` (the driver's environment, e.g. ``PULUMI_SKIP_CHECKPOINTS=true``), ``parallel=N`` (the
    driver's ``--parallel``), ``arg=FLAG`` (one more argument to the first and the no-op ``up``, e.g.
    ``arg=--skip-checkpoints``), ``commit=REV`` (the project at that commit instead of ``--commit``'s),
    ``max=N`` (run this variant only at sizes up to ``N`` projects), ``writer=SECONDS`` (the status writer's poll
    interval) or ``profile=DIR`` (every ``pulumi`` command run with ``--profiling DIR/<projects>/pulumi``: Go CPU
    profiles for ``go tool pprof``)."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    parallel: int | None = None
    writer: float | None = None
    profile: Path | None = None
    args: list[str] = field(default_factory=list)
    commit: str | None = None
    max_projects: int | None = None
    settings: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Variant:
        name, _, settings = text.partition(":")
        variant = cls(name, settings=[x for x in settings.split(",") if x])
        for setting in variant.settings:
            key, _, value = setting.partition("=")
            if key == "parallel":
                variant.parallel = int(value)
            elif key == "writer":
                variant.writer = float(value)
            elif key == "profile":
                variant.profile = Path(value).resolve()
            elif key == "arg":
                variant.args.append(value)
            elif key == "commit":
                variant.commit = value
            elif key == "max":
                variant.max_projects = int(value)
            elif key and key.upper() == key:
                variant.env[key] = value
            else:
                raise argparse.ArgumentTypeError(f"variant {text!r}: unknown setting {setting!r}")
        return variant


@dataclass
class Figures:
    projects: int
    variant: str = "default"
    resources: int = 0
    preview: float = 0.0
    first_up: float = 0.0
    noop_up: float = 0.0
    floor: float = 0.0
    floor_objects: int = 0
    state_bytes: int = 0
    engine_peak: int = 0
    tree_peak: int = 0
    state_types: dict[str, list[int]] = field(default_factory=dict)
    """Resource type -> [resources, state bytes] (each resource's JSON in the exported state)."""
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    """CPU seconds by process role (:attr:`Run.cpu`) of each command (``preview``, ``first up``, ``no-op up``)."""
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


def ticks(stat: str) -> int:
    """utime + stime (clock ticks) of a ``/proc/<pid>/stat`` or ``/proc/<pid>/task/<tid>/stat`` file; 0 if gone."""
    try:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def machine_busy() -> int:
    """Busy clock ticks of every core since boot (``/proc/stat``: all but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4]


def role(pid: int, driver: int) -> str:
    """What a process of the driver's tree is, from its command line."""
    if pid == driver:
        return "driver"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    name = os.path.basename(argv[0].decode(errors="replace"))
    if name == "pulumi":
        return "engine"
    if name.startswith("pulumi-language-"):
        return "language host"
    if name.startswith("pulumi-resource-"):
        return name.removeprefix("pulumi-resource-") + " provider"
    if name.startswith("python"):
        return "program"
    return name


#: Processes and threads outside the driver's tree whose CPU is counted too (``session`` fills it in).
WATCHED: dict[str, str] = {}


def timed(stack: Stack, command: str, *args: str, env: dict[str, str] | None = None) -> Run:
    """``python -m automation <command>`` on ``stack``, its wall time, peak memory and CPU time by process (polled
    every 0.2 s: a process that ends between two polls loses at most its last 0.2 s)."""
    python = str(stack.project / ".venv" / "bin" / "python")
    outside = {name: ticks(path) for name, path in WATCHED.items()}
    busy = machine_busy()
    start = time.monotonic()
    proc = subprocess.Popen(
        [python, "-m", "automation", command, "--stack", stack.name, *args],
        cwd=stack.project,
        env={**stack.process_env(), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peaks = [0, 0]
    seen: dict[int, tuple[str, int]] = {}

    def poll() -> None:
        while proc.poll() is None:
            tree = [proc.pid, *descendants(proc.pid)]
            sizes = {pid: rss(pid) for pid in tree}
            peaks[0] = max(peaks[0], sum(s for pid, s in sizes.items() if name_of(pid) == "pulumi"))
            peaks[1] = max(peaks[1], sum(sizes.values()))
            for pid in tree:
                used = ticks(f"/proc/{pid}/stat")
                if used:
                    seen[pid] = (seen[pid][0] if pid in seen else role(pid, proc.pid), used)
            time.sleep(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    seconds = time.monotonic() - start
    watcher.join()
    cpu: dict[str, float] = {}
    for name, used in seen.values():
        cpu[name] = cpu.get(name, 0.0) + used / TICK
    for name, path in WATCHED.items():
        cpu[name] = (ticks(path) - outside[name]) / TICK
    cpu["machine"] = (machine_busy() - busy) / TICK
    return Run(seconds, proc.returncode, out, err, peaks[0], peaks[1], cpu)


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


def stack_path(env: Env) -> str:
    return env.process_env()["PATH"]


def profiling_cli(env: Env, out: Path) -> Path:
    """A folder with a ``pulumi`` that runs the toolchain's with ``--profiling <out>/pulumi``."""
    out.mkdir(parents=True, exist_ok=True)
    folder = out / "bin"
    folder.mkdir(exist_ok=True)
    wrapper = folder / "pulumi"
    wrapper.write_text(f'#!/bin/sh\nexec {env.toolchain / "bin" / "pulumi"} "$@" --profiling "{out}/pulumi"\n')
    wrapper.chmod(0o755)
    return folder


def measure(
    env: Env, commit: str, projects: int, sources: int, clusters: int, variant: Variant, quick: bool = False
) -> Figures:
    """Preview, first up, no-op up, destroy and the kubectl floor of a new stack of ``projects`` projects (the
    project as it is at ``commit``) run as ``variant`` says; ``quick``: preview and first up only (then destroy)."""
    figures = Figures(projects, variant.name)
    if variant.profile:
        variant.env["PATH"] = f"{profiling_cli(env, variant.profile / str(projects))}{os.pathsep}{stack_path(env)}"
    name = f"bench{projects}-{re.sub(r'[^a-z0-9]', '', variant.name.lower())}"
    stack = env.stack_at(name, variant.commit or commit)  # prodlike.create, on one commit for every size and variant
    cfg = prodlike.config(env, name, projects=projects, sources=sources, clusters=clusters)
    stack.write_config(cfg)
    stack.init()
    prodlike.set_kubeconfigs(stack, cfg)
    extra = ["--parallel", str(variant.parallel)] if variant.parallel else []
    interval = env.writer.interval
    if variant.writer:
        env.writer.interval = variant.writer
    try:
        what = f"{projects} projects ({variant.name})"
        preview = check(timed(stack, "preview", "--json", *extra, env=variant.env), f"preview of {what}")
        figures.preview, figures.cpu["preview"] = preview.seconds, preview.cpu
        up = check(timed(stack, "up", "--json", *extra, *variant.args, env=variant.env), f"first up of {what}")
        figures.first_up, figures.engine_peak, figures.tree_peak = up.seconds, up.engine_peak, up.tree_peak
        figures.cpu["first up"] = up.cpu
        figures.resources = up.json["changes"].get("create", 0)
        if not quick:
            noop = check(timed(stack, "up", "--json", *extra, *variant.args, env=variant.env), f"no-op up of {what}")
            if noop.json["changed"]:
                figures.notes.append(f"the second up changed {noop.json['changes']}")
            figures.noop_up, figures.cpu["no-op up"] = noop.seconds, noop.cpu
            figures.engine_peak = max(figures.engine_peak, noop.engine_peak)
            figures.tree_peak = max(figures.tree_peak, noop.tree_peak)
        exported = stack.export()
        state = json.loads(exported)["deployment"]
        figures.state_bytes = len(exported.encode())
        for r in state["resources"]:
            kind = figures.state_types.setdefault(r["type"], [0, 0])
            kind[0] += 1
            kind[1] += len(json.dumps(r).encode())
        objects = desired_objects(state)
        figures.floor_objects = len(objects)
        # cleanup, not a figure: the state written once (any driver version takes the variable)
        destroy = ["destroy", "--yes", "--json", *extra]
        check(timed(stack, *destroy, env={**variant.env, "PULUMI_SKIP_CHECKPOINTS": "true"}), f"destroy of {what}")
    finally:
        env.writer.interval = interval
    if not quick:
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
    for name, proc in plane._procs:
        if name in ("kube-apiserver", "etcd"):
            WATCHED[name] = f"/proc/{proc.pid}/stat"
    assert writer._thread is not None and writer._thread.native_id is not None
    WATCHED["status writer"] = f"/proc/{os.getpid()}/task/{writer._thread.native_id}/stat"
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


def command_line(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python benchmarks/engine.py --sizes", *map(str, args.sizes)]
    if args.parallel:
        parts += ["--parallel", str(args.parallel)]
    for v in args.variant or []:
        parts += ["--variant", v.name + (":" + ",".join(v.settings) if v.settings else "")]
    if args.quick:
        parts.append("--quick")
    return " ".join(parts)


ROLES = (
    "engine",
    "driver",
    "language host",
    "program",
    "kubernetes provider",
    "kube-apiserver",
    "etcd",
    "status writer",
    "machine",
)


def cpu_table(rows: list[Figures]) -> list[str]:
    """CPU seconds by process of each command, one line per size, variant and command."""
    lines = [
        "| projects | variant | command | wall | " + " | ".join(ROLES) + " | other |",
        "|---" * (len(ROLES) + 5) + "|",
    ]
    for f in rows:
        for command, cpu in f.cpu.items():
            wall = {"preview": f.preview, "first up": f.first_up, "no-op up": f.noop_up}[command]
            other = sum(v for k, v in cpu.items() if k not in ROLES)
            lines.append(
                f"| {f.projects} | {f.variant} | {command} | {wall:.1f} | "
                + " | ".join(f"{cpu.get(r, 0.0):.1f}" for r in ROLES)
                + f" | {other:.1f} |"
            )
    return lines


def table(rows: list[Figures], skipped: list[str], args: argparse.Namespace) -> str:
    variants = len({f.variant for f in rows}) > 1 or any(f.variant != "default" for f in rows)
    lines = [
        SECTION,
        "",
        f"Produced by `{command_line(args)}` on {os.cpu_count()} cores, "
        f"{platform.machine()}, CPython {platform.python_version()}: the real `pulumi` engine and providers of "
        f"`tools/e2e` against the e2e suite's kube-apiserver; {args.sources} sources per project, workspaces of "
        f"five projects with {args.clusters} attached clusters each. One run, sizes side by side.",
        "",
        "| projects |" + (" variant |" if variants else "") + " resources | preview | first up | no-op up "
        "| no-op / first | floor (kubectl, objects) | first up / floor | state bytes / resource | engine peak "
        "| tree peak |",
        "|---|" + ("---|" if variants else "") + "---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in rows:
        noop = f"{f.noop_up:.1f} s | {f.noop_up / f.first_up:.2f}" if f.noop_up else "- | -"
        floor_ = f"{f.floor:.1f} s, {f.floor_objects} | {f.first_up / f.floor:.1f}x" if f.floor else "- | -"
        lines.append(
            f"| {f.projects} |" + (f" {f.variant} |" if variants else "") + f" {f.resources} | {f.preview:.1f} s "
            f"| {f.first_up:.1f} s | {noop} | {floor_} "
            f"| {f.state_bytes / max(f.resources, 1):.0f} | {mib(f.engine_peak)} | {mib(f.tree_peak)} |"
        )
    for variant in dict.fromkeys(f.variant for f in rows):
        by = {f.projects: f for f in rows if f.variant == variant}
        if 50 in by and 200 in by:
            a, b = by[50], by[200]
            ratio = b.resources / a.resources
            noop = f", no-op up {b.noop_up / a.noop_up:.2f}" if a.noop_up and b.noop_up else ""
            lines += [
                "",
                f"T(200)/T(50){f' ({variant})' if variants else ''}: preview {b.preview / a.preview:.2f}, "
                f"first up {b.first_up / a.first_up:.2f}{noop}; resource ratio {ratio:.2f} "
                f"(goal: at most {1.1 * ratio:.2f}).",
            ]
    if any(f.cpu for f in rows):
        lines += ["", "CPU seconds by process (user + system, from `/proc`):", "", *cpu_table(rows)]
    typed = [f for f in rows if f.state_types]
    if typed:
        last = max(typed, key=lambda f: f.resources)
        top = sorted(last.state_types.items(), key=lambda kv: -kv[1][1])[:8]
        lines += [
            "",
            f"State by resource type, {last.projects} projects ({last.variant}), the 8 largest:",
            "",
            "| type | resources | state bytes | bytes / resource |",
            "|---|---|---|---|",
            *(f"| `{t}` | {n} | {b} | {b // max(n, 1)} |" for t, (n, b) in top),
        ]
    notes = [f"- {f.projects} projects ({f.variant}): {n}" for f in rows for n in f.notes]
    notes += [f"- not run: {s}" for s in skipped]
    if notes:
        lines += ["", *notes]
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
    parser.add_argument(
        "--variant",
        type=Variant.parse,
        action="append",
        help="NAME[:SETTING,...]: also run each size this way (ENV=VALUE, parallel=N, writer=SECONDS); repeatable",
    )
    parser.add_argument("--commit", default="HEAD", help="the project's commit to run (default: HEAD, resolved once)")
    parser.add_argument("--quick", action="store_true", help="preview and first up only (no no-op up, no floor)")
    parser.add_argument("--budget", type=float, default=1500, help="seconds for the whole run")
    parser.add_argument("--markdown", type=Path, help="write the table into this file's '## Real engine' section")
    args = parser.parse_args(argv)
    started = time.monotonic()
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{args.commit}^{{commit}}"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip() or parser.error(f"--commit {args.commit}: not a commit of the clone")
    for variant in args.variant or []:
        if variant.commit:
            variant.commit = subprocess.run(
                ["git", "rev-parse", "--verify", f"{variant.commit}^{{commit}}"],
                cwd=ROOT,
                capture_output=True,
                text=True,
            ).stdout.strip() or parser.error(f"variant {variant.name}: {variant.commit} is not a commit of the clone")
    rows: list[Figures] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kommander-bench-") as tmp:
        env, stoppers = session(Path(tmp))
        try:
            per_resource = 0.0
            variants = args.variant or [Variant("default", parallel=args.parallel)]
            for size in sorted(args.sizes):
                for variant in variants:
                    if variant.max_projects is not None and size > variant.max_projects:
                        continue
                    elapsed = time.monotonic() - started
                    if rows:
                        last = rows[-1]
                        estimate = per_resource * last.resources * size / last.projects
                        if elapsed + estimate > args.budget:
                            skipped.append(
                                f"{size} projects, {variant.name} (estimated {estimate / 60:.0f} min from "
                                f"{last.projects} projects; {(args.budget - elapsed) / 60:.0f} min of the budget left)"
                            )
                            continue
                    begin = time.monotonic()
                    figures = measure(env, commit, size, args.sources, args.clusters, variant, args.quick)
                    per_resource = (time.monotonic() - begin) / max(figures.resources, 1)
                    rows.append(figures)
                    print(json.dumps({**figures.__dict__, "load": os.getloadavg()}), flush=True)
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
