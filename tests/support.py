"""Shared test support: programs and configs several test modules (and no test module of its own) use.

Test modules import this module, ``harness`` (the recording monitor), ``schemas`` and ``stacks``; never each
other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import yaml
from harness import Graph

from components import config, stack_plan
from components.cert_manager import CRD_GROUPS as CERT_MANAGER_GROUPS
from components.flux import CRD_GROUPS as FLUX_GROUPS
from components.management_cluster import ManagementCluster
from components.tenancy import Tenancy, TenancyArgs

ROOT = Path(__file__).resolve().parent.parent
#: Planted in every secret of the sample tenancy: it must never appear where secrets must not.
CANARY = "canary-7f3a"


def build(raw: dict | None = None, stack: str = "dev"):  # type: ignore[no-untyped-def]
    """The whole program with ``raw`` as its ``kommander:*`` config."""
    return lambda: ManagementCluster("kommander", stack_plan.build(config.parse(raw or {}, stack=stack)))


def crd_installer(graph: Graph, api_version: str):  # type: ignore[no-untyped-def]
    """The Helm release that installs the CRD of a custom resource's API group."""
    group = api_version.split("/")[0]
    if group in FLUX_GROUPS:
        return graph.one("kubernetes:helm.sh/v3:Release", "kommander-flux-controllers")
    if group in CERT_MANAGER_GROUPS:
        return graph.one("kubernetes:helm.sh/v3:Release", "kommander-cert-manager-controllers")
    return None


def stack_config(stack: str) -> dict[str, object]:
    """The stack file's config with Pulumi.yaml's declared defaults applied, as the CLI does."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    values: dict[str, object] = {f"kommander:{k}": v["default"] for k, v in project["config"].items() if "default" in v}
    values.update(yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"])
    return values


def kubeconfig(tag: str) -> str:
    """A kubeconfig whose token carries the canary."""
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://{tag}.example:6443'}}}}]\n"
        f"users: [{{name: u, user: {{token: {CANARY}-kubeconfig-{tag}}}}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )


def small_tenancy() -> dict[str, Any]:
    """One workspace with two attached clusters, a project on them and one on the default workspace."""
    return {
        "workspaces": [
            {
                "name": "edge",
                "clusters": [
                    {"name": "e1", "labels": {"env": "prod"}, "kubeconfig": kubeconfig("e1")},
                    {"name": "e2", "labels": {"env": "prod"}, "kubeconfig": kubeconfig("e2")},
                ],
            }
        ],
        "projects": [
            {
                "name": "shop",
                "workspace": "edge",
                "clusterSelector": {"matchLabels": {"env": "prod"}},
                "sources": [
                    {"name": "web", "url": "https://h/web"},
                    {"name": "api", "url": "https://h/api", "credentials": {"username": "u", "password": "pw"}},
                ],
            },
            {"name": "ops", "workspace": "default", "sources": [{"name": "web", "url": "https://h/ops"}]},
        ],
    }


def tenancy_program(raw: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The Tenancy component alone, exporting its status as ``tenants``."""
    cfg = config.parse(raw, secret_keys=list(raw))

    def program() -> None:
        tenancy = Tenancy("t", TenancyArgs(cfg.workspaces, cfg.projects, "kommander-flux"))
        pulumi.export("tenants", tenancy.status)

    return program
