"""The day-two commands of ``python -m automation``: status, releases, suspend, resume, reconcile, events.

They need the stack file and the clusters only (no Pulumi engine, no backend): the stack
file and the tenancy plan say what to read (:func:`automation.ops.targets`); the stack's
``kubernetes:context`` (else the current one) reaches the management cluster, whose
kubeconfig Secrets reach the attached clusters.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from rich.console import Console, RenderableType
from rich.live import Live

from automation import ops, stackfile, status
from components.config import ConfigError

OK, FAILED, USAGE = 0, 1, 2
COMMANDS = ("status", "releases", "suspend", "resume", "reconcile", "events")
#: Replaced in tests.
sleep: Callable[[float], None] = time.sleep

_CODES = "exit codes: 0 {ok}, 1 {failed}, 2 unknown workspace/project/source/cluster or bad stack file"


def _parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--stack", "-s", required=True, help="stack name (Pulumi.<stack>.yaml)")
    parent.add_argument(
        "--output",
        "-o",
        choices=("table", "lines", "json", "yaml"),
        help="default: a table on a terminal at least 120 columns wide, else one line per object",
    )
    parent.add_argument("--json", action="store_true", help="same as --output json")
    return parent


def _filters(parser: argparse.ArgumentParser, *, workspace: bool = True) -> None:
    if workspace:
        parser.add_argument("--workspace", "-w", help="only this workspace's projects and clusters")
    parser.add_argument("--project", "-p", help="only this project")
    parser.add_argument("--source", help="only this GitOps source")
    parser.add_argument("--cluster", "-c", help="only this cluster")


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", "-p", required=True, help="the project")
    parser.add_argument("--source", required=True, help="the project's GitOps source")
    parser.add_argument("--cluster", "-c", help="only on this cluster (default: every cluster of the source)")


def _watch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--watch", action="store_true", help="read again every --interval seconds until Ctrl-C")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between reads with --watch (default 5)")


def add_parsers(sub: Any) -> None:
    """Add the commands to ``python -m automation``'s subparsers."""
    parent = _parent()
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "status",
        parents=[parent],
        formatter_class=fmt,
        help="each GitOps source's GitRepository and Kustomization per cluster, live",
        description="Read each source's GitRepository and its Kustomization for every cluster from the "
        "management cluster; Flux's messages are shown verbatim. Needs no Pulumi backend.",
        epilog=_CODES.format(ok="every object Ready (or suspended)", failed="something not Ready, or unreachable"),
    )
    _filters(p)
    _watch(p)
    p = sub.add_parser(
        "releases",
        parents=[parent],
        formatter_class=fmt,
        help="every HelmRelease on every cluster: release, namespace, chart, version, ready",
        description="Kommander's Helm Releases view: every HelmRelease on the management cluster and on each "
        "attached cluster (reached with its kubeconfig Secret on the management cluster).",
        epilog=_CODES.format(ok="every release Ready (or suspended)", failed="something not Ready, or unreachable"),
    )
    p.add_argument("--workspace", "-w", help="only this workspace's clusters")
    p.add_argument("--cluster", "-c", help="only this cluster")
    p.add_argument("--project", "-p", help="only the releases in this project's namespace")
    _watch(p)
    for name, does in (
        ("suspend", "stop Flux applying a source (spec.suspend: true), at once, on every cluster or one"),
        ("resume", "let Flux apply a suspended source again (spec.suspend: false)"),
    ):
        p = sub.add_parser(
            name,
            parents=[parent],
            formatter_class=fmt,
            help=does,
            description=f"{does[0].upper()}{does[1:]}. The source's Kustomizations are patched on the management "
            f"cluster (seconds, no `up`). Without --cluster, `suspend: {'true' if name == 'suspend' else 'false'}` "
            "is also written for the source into Pulumi.<stack>.yaml (the rest of the file kept), so the next "
            "`up` keeps it: commit that change. With --cluster only the live object changes: the stack file has "
            "no per-cluster suspend. Prints what changed, per cluster.",
            epilog=_CODES.format(ok="done", failed="a patch was refused or the cluster unreachable"),
        )
        _target(p)
    p = sub.add_parser(
        "reconcile",
        parents=[parent],
        formatter_class=fmt,
        help="ask Flux to apply a source now (as `flux reconcile kustomization`)",
        description="Set reconcile.fluxcd.io/requestedAt on the source's Kustomizations (with --with-source, on "
        "its GitRepository first), as `flux reconcile` does. Suspended objects are left alone (resume them).",
        epilog=_CODES.format(ok="requested", failed="a patch was refused, an object suspended or missing"),
    )
    _target(p)
    p.add_argument("--with-source", action="store_true", help="fetch the Git source first")
    p = sub.add_parser(
        "events",
        parents=[parent],
        formatter_class=fmt,
        help="recent events and failing conditions of a source's objects (as `flux events --for`)",
        description="The Kubernetes Events of the source's GitRepository and Kustomizations (Flux records them "
        "on the management cluster), and their failing conditions, oldest first.",
        epilog=_CODES.format(ok="read", failed="the management cluster was unreachable"),
    )
    _target(p)


def kube_clients(context: str | None, env: Mapping[str, str]) -> tuple[Any, Any]:
    """CustomObjectsApi and CoreV1Api for the management cluster (``KUBECONFIG`` from ``env``)."""
    from kubernetes import client
    from kubernetes import config as kube_config

    try:
        api_client = kube_config.new_client_from_config(config_file=env.get("KUBECONFIG") or None, context=context)
    except Exception as exc:  # ConfigException, a missing file: one line for the user
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"kubernetes:context: cannot load kube context {context or '(current)'}: {reason}") from None
    return client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)


class Command:
    """One run of a day-two command."""

    def __init__(self, args: argparse.Namespace, file: stackfile.StackFile, env: Mapping[str, str], out: TextIO):
        self.args = args
        self.file = file
        self.env = env
        self.out = out
        self.console = Console(file=out, highlight=False, markup=False, emoji=False, soft_wrap=False)
        self.plan = ops.targets(file.config)
        self.output = "json" if args.json else args.output or ("table" if status.use_table(self.console) else "lines")
        self._clients: tuple[Any, Any] | None = None

    @property
    def api(self) -> Any:
        return self.clients[0]

    @property
    def core(self) -> Any:
        return self.clients[1]

    @property
    def clients(self) -> tuple[Any, Any]:
        if self._clients is None:
            self._clients = kube_clients(self.file.kube_context, self.env)
        return self._clients

    # -- output

    def data(self, rows: Sequence[Any]) -> bool:
        """Print rows as JSON or YAML when asked; True when done."""
        if self.output == "json":
            self.out.write(status.to_json(rows) + "\n")
        elif self.output == "yaml":
            self.out.write(status.to_yaml(rows))
        else:
            return False
        self.out.flush()
        return True

    def text(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()

    def watch(
        self,
        read: Callable[[], Sequence[Any]],
        table: Callable[[Sequence[Any]], RenderableType],
        lines: Callable[[Sequence[Any]], list[str]],
    ) -> int:
        rows = read()
        if not self.args.watch:
            if not self.data(rows):
                if self.output == "table":
                    self.console.print(table(rows))
                else:
                    self.text(lines(rows))
            return OK if ops.healthy(rows) else FAILED
        code = OK if ops.healthy(rows) else FAILED
        try:
            if self.output == "table":
                with Live(table(rows), console=self.console, auto_refresh=False) as live:
                    while True:
                        sleep(self.args.interval)
                        rows = read()
                        code = OK if ops.healthy(rows) else FAILED
                        live.update(table(rows), refresh=True)
            seen: set[str] = set()
            while True:
                if not self.data(rows):  # lines: only what changed since the last read, stamped
                    stamp = time.strftime("%H:%M:%S")
                    now = lines(rows)
                    self.text([f"{stamp} {line}" for line in now if line not in seen])
                    seen = set(now)
                sleep(self.args.interval)
                rows = read()
                code = OK if ops.healthy(rows) else FAILED
        except KeyboardInterrupt:
            return code

    # -- commands

    def status(self) -> int:
        a = self.args
        ops.select(self.plan, workspace=a.workspace, project=a.project, source=a.source, cluster=a.cluster)

        def read() -> list[ops.Row]:
            return ops.read_status(
                self.api, self.plan, workspace=a.workspace, project=a.project, source=a.source, cluster=a.cluster
            )

        return self.watch(read, status.render_table, status.lines)

    def releases(self) -> int:
        a = self.args
        ops.select(self.plan, workspace=a.workspace, project=a.project, cluster=a.cluster)
        names = {
            c.name
            for c in self.plan.clusters
            if (a.workspace is None or c.workspace == a.workspace) and (a.cluster is None or c.name == a.cluster)
        }
        namespaces = {ns for ns, project in self.plan.namespaces.items() if project == a.project}

        def read() -> list[ops.HelmReleaseRow]:
            rows = []
            for name in sorted(names, key=lambda n: [c.name for c in self.plan.clusters].index(n)):
                clients = ops.cluster_clients(self.core, self.plan, cluster=name)
                rows += ops.read_helm_releases(self.api, self.plan, clients, cluster=name)
            if a.project is not None:
                rows = [r for r in rows if r.namespace in namespaces or r.ready in ("Unreachable", "Forbidden")]
            return rows

        return self.watch(read, status.render_releases, status.release_lines)

    def _changes(self, changes: list[ops.Change]) -> int:
        if not self.data(changes):
            self.text(status.change_lines(changes))
        return FAILED if any(c.error for c in changes) else OK

    def suspend(self) -> int:
        a = self.args
        return self._changes(
            ops.suspend(self.api, self.plan, a.project, a.source, a.cluster, stack_file=self.file.path)
        )

    def resume(self) -> int:
        a = self.args
        return self._changes(ops.resume(self.api, self.plan, a.project, a.source, a.cluster, stack_file=self.file.path))

    def reconcile(self) -> int:
        a = self.args
        changes = ops.reconcile(self.api, self.plan, a.project, a.source, a.cluster, with_source=a.with_source)
        return self._changes(changes)

    def events(self) -> int:
        a = self.args
        rows = ops.events(self.core, self.api, self.plan, a.project, a.source, a.cluster)
        if not self.data(rows):
            if self.output == "table":
                self.console.print(status.event_table(rows))
            else:
                self.text(status.event_lines(rows))
        return OK


def run(args: argparse.Namespace, file: stackfile.StackFile, env: Mapping[str, str], out: TextIO) -> int:
    """Run one day-two command; errors are one line on stderr."""
    import sys

    def fail(message: str, code: int) -> int:
        print(f"error: {message}", file=sys.stderr)
        return code

    try:
        command = Command(args, file, env, out)
        handler: Callable[[], int] = getattr(command, args.command)
        return handler()
    except ConfigError as exc:
        return fail(str(exc), USAGE)
    except ops.UnreachableError as exc:
        return fail(f"{exc} (kube context {file.kube_context or '(current)'})", FAILED)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
