"""Generated prod-like stacks for the lifecycle scenarios and the real-engine benchmarks.

:func:`config` makes ``projects`` projects spread over workspaces of ``clusters`` attached clusters each, every
project with ``sources`` GitOps sources (one Kustomization per source and selected cluster), a catalog, and the
host cluster's default workspace. Attached clusters point at unreachable addresses (nothing there is contacted:
the stack only stores their kubeconfigs); :func:`set_kubeconfigs` sets those as secret config in one CLI call.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stack import Env, Stack

#: A token in every attached cluster's kubeconfig (the lifecycle tests look for it where no secret may be).
CANARY = "e2e-canary-prodlike-51c7"


def kubeconfig(cluster: str) -> str:
    """The kubeconfig of an attached cluster at an unreachable address, its token carrying :data:`CANARY`."""
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: {cluster}, cluster: {{server: 'https://{cluster}.example.invalid:6443'}}}}]\n"
        f"users: [{{name: admin, user: {{token: {CANARY}-{cluster}}}}}]\n"
        f"contexts: [{{name: {cluster}, context: {{cluster: {cluster}, user: admin}}}}]\n"
        f"current-context: {cluster}\n"
    )


def workspaces(projects: int, clusters: int, per_workspace: int = 5) -> list[dict[str, Any]]:
    """One workspace per ``per_workspace`` projects (at least one), ``clusters`` attached clusters each."""
    count = max(1, -(-projects // per_workspace))
    return [
        {
            "name": f"ws{w}",
            "labels": {"tier": "edge" if w % 2 else "core"},
            "clusters": [
                {"name": f"ws{w}-c{c}", "labels": {"env": "prod" if c % 2 == 0 else "staging"}} for c in range(clusters)
            ],
        }
        for w in range(count)
    ]


def config(
    env: Env,
    name: str = "prodlike",
    *,
    projects: int = 6,
    sources: int = 2,
    clusters: int = 2,
    per_workspace: int = 5,
    protect: bool = False,
) -> dict[str, Any]:
    """The stack config (kubeconfigs excepted: :func:`set_kubeconfigs`). Every fourth project lives in the host
    cluster's ``default`` workspace; every third selects only its workspace's ``env: prod`` clusters."""
    spaces = workspaces(projects, clusters, per_workspace)
    project_list = []
    for p in range(projects):
        workspace = "default" if p % 4 == 3 else spaces[(p // per_workspace) % len(spaces)]["name"]
        project: dict[str, Any] = {
            "name": f"p{p}",
            "workspace": workspace,
            "sources": [
                {
                    "name": f"s{s}",
                    "url": f"https://git.example.com/team{p}/app{s}.git",
                    **({"path": "./deploy"} if s % 2 else {}),
                }
                for s in range(sources)
            ],
        }
        if p % 3 == 2 and workspace != "default":
            project["clusterSelector"] = {"matchLabels": {"env": "prod"}}
        project_list.append(project)
    out = env.base_config(name)
    out.update(
        {
            "kommander:protect": "true" if protect else "false",
            "kommander:catalogs": [
                {"name": "community", "url": "https://git.example.com/catalog.git", "ref": {"tag": "v1.0.0"}}
            ],
            "kommander:workspaces": spaces,
            "kommander:projects": project_list,
        }
    )
    return out


def set_kubeconfigs(stack: Stack, cfg: dict[str, Any]) -> None:
    """Every attached cluster's kubeconfig as secret config, in one ``pulumi config set-all``."""
    args: list[str] = []
    for i, ws in enumerate(cfg["kommander:workspaces"]):
        for j, cluster in enumerate(ws["clusters"]):
            args += ["--secret", f"kommander:workspaces[{i}].clusters[{j}].kubeconfig={kubeconfig(cluster['name'])}"]
    if args:
        stack.pulumi("config", "set-all", "--path", *args)


def create(env: Env, name: str, **kwargs: Any) -> Stack:
    """A new stack of :func:`config` in its own copy of the project, kubeconfigs set."""
    stack = env.stack(name)
    cfg = config(env, name, **kwargs)
    stack.write_config(cfg)
    stack.init()
    set_kubeconfigs(stack, cfg)
    return stack


@contextmanager
def repository(env: Env) -> Iterator[None]:
    """The management repository on the Gitea stand-in, created when missing and then removed again at the end (a
    later module may count the commits of a repository it created)."""
    created = not env.gitea.bare().exists()
    if created:
        env.gitea.create("kommander-admin", "kommander")
    try:
        yield
    finally:
        if created:
            shutil.rmtree(env.gitea.bare(), ignore_errors=True)


def reconfigure(stack: Stack, cfg: dict[str, Any]) -> None:
    """Write ``cfg`` as the stack's config, keeping the encrypted kubeconfigs the stack file holds (same layout)."""
    import yaml

    current = yaml.safe_load((stack.project / f"Pulumi.{stack.name}.yaml").read_text())["config"]
    for i, ws in enumerate(cfg["kommander:workspaces"]):
        for j, cluster in enumerate(ws["clusters"]):
            cluster["kubeconfig"] = current["kommander:workspaces"][i]["clusters"][j]["kubeconfig"]
    stack.write_config(cfg)
