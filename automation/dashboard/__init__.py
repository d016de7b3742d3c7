"""``python -m automation dashboard --stack S``: a web view of the Project Deployments.

Pages (server-rendered, refreshed live by a few lines of script): the overview, a
project's sources per cluster with Suspend / Resume / Reconcile, the Helm releases,
a source's objects and events. What to read comes from the stack file and the tenancy
plan; reading and patching go through :mod:`automation.ops`, as the CLI's commands do.

Listens on 127.0.0.1 unless ``--address`` names another address, which needs a token.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from collections.abc import Mapping

from automation import stackfile

DEFAULT_PORT = 8765
TOKEN_ENV = "KOMMANDER_DASHBOARD_TOKEN"
MIN_TOKEN = 16


class DashboardError(Exception):
    """A problem the user fixes before the server starts (one line, exit 2)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Serve a web view of the stack's Project Deployments (sources per cluster, Helm releases, events; "
        "Suspend / Resume / Reconcile) from the live clusters, with your kube credentials."
    )
    parser.epilog = "exit codes: 0 stopped (Ctrl-C), 2 bad arguments, stack file, kube context or port"
    parser.add_argument("--stack", "-s", required=True, help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    parser.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1); any other needs --token",
    )
    parser.add_argument(
        "--token",
        help=f"a secret of at least {MIN_TOKEN} characters every request must carry (or ${TOKEN_ENV})",
    )
    parser.add_argument("--refresh", type=float, default=5.0, metavar="SECONDS", help="live refresh period")


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def token_of(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    """The token from ``--token`` or the environment; refuses a non-loopback address without one."""
    token = args.token or env.get(TOKEN_ENV) or None
    if token is not None and len(token) < MIN_TOKEN:
        raise DashboardError(f"the dashboard token is too short: use at least {MIN_TOKEN} characters")
    if not is_loopback(args.address) and token is None:
        raise DashboardError(
            f"--address {args.address} exposes the dashboard beyond this machine: pass --token "
            f"(or set {TOKEN_ENV}) with a secret of at least {MIN_TOKEN} characters"
        )
    if not 0 < args.port < 65536:
        raise DashboardError(f"--port {args.port} is not a TCP port (1-65535)")
    if args.refresh < 1:
        raise DashboardError(f"--refresh {args.refresh:g} is too short: at least 1 second")
    return token


def allowed_hosts(address: str) -> tuple[str, ...] | None:
    """The Host names a request may carry; None (any) for a wildcard address, where the token guards."""
    try:
        if ipaddress.ip_address(address).is_unspecified:
            return None
    except ValueError:
        pass
    return ("127.0.0.1", "localhost", "::1", address)


def bind(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise DashboardError(f"cannot listen on {address} port {port}: {exc.strerror or exc}") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def main(args: argparse.Namespace, file: stackfile.StackFile, env: Mapping[str, str] | None = None) -> int:
    """Serve the dashboard until interrupted; 2 for a problem found before serving."""
    import uvicorn

    from automation.dashboard import kube, web

    try:
        env = os.environ if env is None else env
        token = token_of(args, env)
        backend = kube.connect(file, env)
        sock = bind(args.address, args.port)
    except DashboardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = web.Dashboard(
        backend, stack=args.stack, token=token, hosts=allowed_hosts(args.address), refresh_seconds=args.refresh
    ).app()
    host = f"[{args.address}]" if ":" in args.address else args.address
    print(f"dashboard of stack {args.stack}: http://{host}:{args.port}/ (Ctrl-C stops it)", file=sys.stderr)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
    return 0
