"""``python -m automation {preview,up,destroy,refresh,status,outputs} --stack NAME``.

The order of work is the contract: parse arguments, validate ``Pulumi.<stack>.yaml``
with the program's own config parser, check the destroy guard, choose the backend and
secrets provider, find (or install) the Pulumi CLI, and only then open the stack and
run the engine. Each failure before the engine is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from pulumi import automation as auto
from rich.console import Console
from rich.table import Table
from rich.text import Text

from automation import backend, cli_install, dashboard, operate, progress, stackfile
from automation.progress import LiveProgress, Progress
from components import config

#: Exit codes (also in README.md).
OK = 0
FAILED = 1  # the engine ran and the operation failed
USAGE = 2  # bad arguments, bad stack config, no Pulumi CLI, destroy without --yes, nothing to show
# (status: 0 every tenant object Ready, 1 something is not)
DRIFT = 3  # preview --expect-no-changes found changes
INTERRUPTED = 130  # Ctrl-C (SIGINT), as a shell reports a process it interrupted

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("preview", "up", "destroy", "refresh", "status", "outputs")
#: The only stack that may be destroyed without --yes.
UNGUARDED_STACK = "dev"
#: The engine writes the whole state after every resource step unless this is "true" (then once, at the end).
#: A preview persists nothing (its steps are written to a discarding store), so it always runs with it: the
#: per-step serialization of the growing state made a preview's engine time grow with the square of the stack.
SKIP_CHECKPOINTS = "PULUMI_SKIP_CHECKPOINTS"


class UsageError(Exception):
    """A problem the user fixes before the engine runs (exit 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m automation",
        description="Run the kommander stack through the Pulumi Automation API.",
        epilog="exit codes: 0 ok, 1 operation failed, 2 usage/config/CLI problem, 3 drift (--expect-no-changes)",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", "-s", required=True, help="stack name (Pulumi.<stack>.yaml)")
    common.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    common.add_argument(
        "--secrets-provider", help="secrets provider for a new stack (default: generated passphrase on local state)"
    )
    engine = argparse.ArgumentParser(add_help=False)
    engine.add_argument("--parallel", type=int, help="resource operations run in parallel")
    writes = argparse.ArgumentParser(add_help=False)
    writes.add_argument(
        "--skip-checkpoints",
        action="store_true",
        help="write the state once at the end, not after every step (faster on large stacks; a killed run "
        "loses the record of what it did: README, An interrupted up)",
    )
    policy = argparse.ArgumentParser(add_help=False)
    policy.add_argument(
        "--policy-pack", action="append", default=[], metavar="DIR", help="enforce a policy pack (e.g. policy)"
    )
    policy.add_argument(
        "--policy-pack-config", action="append", default=[], metavar="FILE", help="JSON config for each policy pack"
    )

    names = COMMANDS + tuple(c for c in operate.COMMANDS if c not in COMMANDS)  # + the day-two commands
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(names) + "}")
    preview = sub.add_parser("preview", parents=[common, engine, policy], help="show what would change")
    preview.add_argument(
        "--expect-no-changes", action="store_true", help=f"exit {DRIFT} when anything would change (drift)"
    )
    preview.add_argument("--refresh", action="store_true", help="refresh state before the preview")
    preview.add_argument(
        "--diff", action="store_true", help="each changing resource and its changed properties (old => new)"
    )
    up = sub.add_parser("up", parents=[common, engine, writes, policy], help="install or converge")
    up.add_argument("--refresh", action="store_true", help="refresh state before the update")
    destroy = sub.add_parser("destroy", parents=[common, engine, writes], help="remove everything, in order")
    destroy.add_argument("--yes", "-y", action="store_true", help=f"required for any stack but {UNGUARDED_STACK}")
    sub.add_parser("refresh", parents=[common, engine, writes], help="read the live state into the stack")
    operate.add_parsers(sub)
    outputs = sub.add_parser("outputs", parents=[common], help="the stack outputs")
    outputs.add_argument("--show-secrets", action="store_true", help="print secret outputs in plaintext")
    dashboard.add_arguments(sub.add_parser("dashboard", help="web view of the sources, Helm releases, suspend/resume"))
    return parser


# --------------------------------------------------------------------------- seams (replaced in tests)


def open_stack(root: Path, stack: str, chosen: backend.Backend, command: auto.PulumiCommand) -> auto.Stack:
    """Create (first use) or select the stack of the project at ``root``."""
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(root),
        env_vars=chosen.env,
        secrets_provider=chosen.secrets_provider,
        pulumi_command=command,
    )
    return auto.create_or_select_stack(stack_name=stack, work_dir=str(root), opts=opts)


# --------------------------------------------------------------------------- results


def plain_outputs(outputs: Mapping[str, auto.OutputValue], show_secrets: bool = False) -> dict[str, Any]:
    return {k: (v.value if show_secrets or not v.secret else "[secret]") for k, v in sorted(outputs.items())}


def changes_of(summary: Mapping[Any, int] | None) -> dict[str, int]:
    return {str(getattr(op, "value", op)): int(n) for op, n in (summary or {}).items()}


def has_drift(changes: Mapping[str, int]) -> bool:
    """True when anything but ``same`` would happen."""
    return any(n for op, n in changes.items() if op != "same")


def failure_line(exc: auto.errors.CommandError, progress: Progress) -> str:
    """One line for a failed engine run: the engine's first error diagnostic, else the last ``error:`` the CLI
    printed with its indented detail lines (a lock's holder), else stderr's last line."""
    if progress.errors:
        return " ".join(progress.errors[0].split())
    raw = [re.sub(r"^\s*(stdout|stderr):\s?", "", line) for line in str(exc).splitlines()]
    lines = [line for line in raw if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.lower().startswith("error")]
    if not starts:
        return (lines or ["the Pulumi CLI failed"])[-1].strip()
    first = starts[-1]
    end = first + 1
    while end < len(lines) and lines[end].startswith((" ", "\t")):
        end += 1
    return " ".join(" ".join(lines[first:end]).split())


class Run:
    """One invocation: arguments, stack, consoles."""

    def __init__(self, args: argparse.Namespace, stack: auto.Stack, file: stackfile.StackFile, out: TextIO) -> None:
        self.args = args
        self.stack = stack
        self.file = file
        self.out = out
        self.err = Console(stderr=True, highlight=False)
        self.progress = Progress()

    def live(self, title: str) -> LiveProgress:
        view = LiveProgress(self.err, title, enabled=self.err.is_terminal and not self.args.json)
        self.progress = view.progress
        return view

    def emit(self, payload: dict[str, Any]) -> None:
        self.out.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")

    def result(
        self, changes: dict[str, int], outputs: Mapping[str, auto.OutputValue], diff: list[str] | None = None
    ) -> None:
        if self.args.json:
            payload = {
                "stack": self.args.stack,
                "command": self.args.command,
                "changes": changes,
                "changed": has_drift(changes),
                "outputs": plain_outputs(outputs),
            }
            self.emit(payload if diff is None else {**payload, "diff": diff})
            return
        for line in diff or []:
            self.out.write(line + "\n")
        if outputs:
            self.print_outputs(plain_outputs(outputs))

    def print_outputs(self, outputs: Mapping[str, Any]) -> None:
        table = Table("output", "value", box=None, header_style="bold")
        for key, value in outputs.items():  # Text, not markup: "[secret]" and "[...]" print as they are
            table.add_row(Text(key), Text(value if isinstance(value, str) else json.dumps(value, sort_keys=True)))
        Console(file=self.out, highlight=False).print(table)

    def policy_packs(self) -> dict[str, Any]:
        """``policy_packs`` / ``policy_pack_configs`` keyword arguments (absolute paths), when given."""
        packs = [str(Path(p).resolve()) for p in self.args.policy_pack]
        configs = [str(Path(p).resolve()) for p in self.args.policy_pack_config]
        return {"policy_packs": packs or None, "policy_pack_configs": configs or None}

    def skip_checkpoints(self, skip: bool) -> None:
        """Run the engine with ``PULUMI_SKIP_CHECKPOINTS=true`` when ``skip`` (on the workspace's environment)."""
        if skip:
            workspace = self.stack.workspace
            workspace.env_vars = {**workspace.env_vars, SKIP_CHECKPOINTS: "true"}

    # -- commands

    def preview(self) -> int:
        self.skip_checkpoints(True)  # nothing is persisted: the per-step state writes are pure cost
        with self.live(f"preview {self.args.stack}") as view:
            result = self.stack.preview(
                on_event=view.on_event,
                parallel=self.args.parallel,
                **self.policy_packs(),
                refresh=self.args.refresh or None,
            )
        changes = changes_of(result.change_summary)
        diff = progress.diff_lines(self.progress.diffs.values()) if self.args.diff else None
        self.result(changes, self.stack.outputs(), diff)
        if self.args.expect_no_changes and has_drift(changes):
            drift = ", ".join(f"{n} {op}" for op, n in sorted(changes.items()) if op != "same" and n)
            self.err.print(f"drift: stack {self.args.stack} would change ({drift})")
            return DRIFT
        return OK

    def up(self) -> int:
        self.skip_checkpoints(self.args.skip_checkpoints)
        with self.live(f"up {self.args.stack}") as view:
            result = self.stack.up(
                on_event=view.on_event,
                parallel=self.args.parallel,
                **self.policy_packs(),
                refresh=self.args.refresh or None,
            )
        self.result(changes_of(result.summary.resource_changes), result.outputs)
        return OK

    def destroy(self) -> int:
        self.skip_checkpoints(self.args.skip_checkpoints)
        with self.live(f"destroy {self.args.stack}") as view:
            result = self.stack.destroy(on_event=view.on_event, parallel=self.args.parallel)
        self.result(changes_of(result.summary.resource_changes), {})
        return OK

    def refresh(self) -> int:
        self.skip_checkpoints(self.args.skip_checkpoints)
        with self.live(f"refresh {self.args.stack}") as view:
            result = self.stack.refresh(on_event=view.on_event, parallel=self.args.parallel)
        self.result(changes_of(result.summary.resource_changes), self.stack.outputs())
        return OK

    def outputs(self) -> int:
        outputs = plain_outputs(self.stack.outputs(), self.args.show_secrets)
        if self.args.json:
            self.emit({"stack": self.args.stack, "command": "outputs", "outputs": outputs})
        else:
            self.print_outputs(outputs)
        return OK


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    root: Path | None = None,
    out: TextIO | None = None,
) -> int:
    """Run one command; returns the exit code (130 on Ctrl-C, wherever it comes)."""
    args = build_parser().parse_args(argv)
    try:
        return _main(args, dict(os.environ if env is None else env), root or PROJECT_ROOT, out or sys.stdout)
    except KeyboardInterrupt:
        return _fail("interrupted", INTERRUPTED)


def _main(args: argparse.Namespace, env: dict[str, str], root: Path, out: TextIO) -> int:
    try:
        file = stackfile.load(root, args.stack)
    except config.ConfigError as exc:
        return _fail(str(exc), USAGE)
    if args.command in operate.COMMANDS:  # the live clusters only: no engine, no backend
        return operate.run(args, file, env, out)
    if args.command == "dashboard":  # reads the clusters itself: no engine, no backend
        return dashboard.main(args, file, env)
    if args.command == "destroy" and args.stack.rsplit("/", 1)[-1] != UNGUARDED_STACK and not args.yes:
        return _fail(f"destroy of stack {args.stack!r} removes the whole platform; pass --yes to confirm", USAGE)
    try:
        command = cli_install.ensure()
    except cli_install.CliUnavailableError as exc:
        return _fail(str(exc), USAGE)
    try:
        chosen = backend.select(root, args.stack, env, args.secrets_provider)
    except backend.BackendError as exc:
        return _fail(str(exc), USAGE)
    run: Run | None = None
    try:
        stack = open_stack(root, args.stack, chosen, command)
        run = Run(args, stack, file, out)
        handler: Callable[[], int] = getattr(run, args.command)
        return handler()
    except UsageError as exc:
        return _fail(str(exc), USAGE)
    except auto.errors.CommandError as exc:
        reason = failure_line(exc, run.progress if run else Progress())
        return _fail(f"{args.command} {args.stack} failed: {reason}", FAILED)
