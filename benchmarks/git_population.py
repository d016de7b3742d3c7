"""Populate the management repository with 200 generated applications, then re-run.

    .venv/bin/python benchmarks/git_population.py [--apps 200]

Runs the ManagementRepository provider (the same code ``pulumi up`` runs) against a
bare repository behind ``git http-backend`` on 127.0.0.1 (``tests/gitserver.py``):
the first push, a re-run with no change, and a re-run with one changed file. The
re-runs call the provider's ``update`` directly, i.e. they measure the publish work
that ``diff`` would normally skip entirely. Prints one ``figure: value`` line each.
Goal: no-op at most 0.3 of the first push, with zero commits.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import pyrage  # noqa: E402
from gitserver import GitServer  # noqa: E402

from components import config, repository_content  # noqa: E402
from components.management_repository import RepositoryProvider, provider_inputs  # noqa: E402


def generate(root: Path, apps: int) -> None:
    """``applications/app-NNN/1.0.0/`` with a kustomization, a HelmRelease and defaults, plus metadata."""
    for i in range(apps):
        app = root / "applications" / f"app-{i:03d}"
        version = app / "1.0.0"
        (version / "defaults").mkdir(parents=True)
        (app / "metadata.yaml").write_text(f"displayName: App {i}\ndescription: generated\ncategory: [test]\n")
        (version / "kustomization.yaml").write_text("resources: [helmrelease.yaml]\n")
        (version / "helmrelease.yaml").write_text(
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
            f"metadata: {{name: app-{i:03d}, namespace: '${{releaseNamespace}}'}}\n"
            f"spec:\n  interval: 10m\n  chart: {{spec: {{chart: app-{i:03d}, version: 1.0.0}}}}\n"
        )
        (version / "defaults" / "cm.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\ndata:\n  values.yaml: |\n  i: {i}\n"
        )


def props(server: GitServer, url: str, root: Path, identity: Any) -> dict[str, Any]:
    spec = repository_content.ContentSpec(str(root), "applications", cluster_name="management")
    return provider_inputs(
        config.Gitea(),
        spec,
        repository_content.content_digest(repository_content.collect(spec)),
        url=url,
        username=server.username,
        password=server.password,
        recipient=str(identity.to_public()),
        age_identity=str(identity),
        cluster_name="management",
        kommander_namespace="kommander",
    )


def commits(bare: Path) -> int:
    out = subprocess.run(["git", "-C", str(bare), "rev-list", "--count", "main"], capture_output=True, text=True)
    return int(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kommander-bench-") as tmp:
        root = Path(tmp) / "catalog"
        generate(root, args.apps)
        server = GitServer(Path(tmp) / "server").start()
        try:
            url = server.create()
            bare = server.bare()
            provider = RepositoryProvider()
            identity = pyrage.x25519.Identity.generate()
            p = props(server, url, root, identity)

            t0 = time.perf_counter()
            created = provider.create(p)
            assert created.outs is not None
            first = time.perf_counter() - t0
            n_first = commits(bare)

            t0 = time.perf_counter()
            same = props(server, url, root, identity)
            diff = provider.diff(created.id, created.outs, same)
            noop_diff = time.perf_counter() - t0
            t0 = time.perf_counter()
            provider.update(created.id, created.outs, same)
            noop = time.perf_counter() - t0
            n_noop = commits(bare) - n_first

            changed_app = root / "applications" / f"app-{args.apps // 2:03d}"
            (changed_app / "1.0.0" / "defaults" / "cm.yaml").write_text("changed: true\n")
            t0 = time.perf_counter()
            changed = props(server, url, root, identity)
            provider.update(created.id, created.outs, changed)
            one = time.perf_counter() - t0
            n_one = commits(bare) - n_first - n_noop
            files = len(repository_content.collect(repository_content.ContentSpec(str(root), "applications")))
        finally:
            server.stop()
    print(f"applications: {args.apps} ({files} files + .sops.yaml + 1 encrypted secret)")
    print(f"first push: {first:.3f} s, {n_first} commit")
    print(f"no-op diff (preview): {noop_diff:.3f} s, changes={diff.changes}")
    print(f"no-op publish: {noop:.3f} s, {n_noop} commits")
    print(f"one-change publish: {one:.3f} s, {n_one} commit")
    print(f"ratio no-op/first: {noop / first:.2f}")
    print(f"ratio one-change/first: {one / first:.2f}")


if __name__ == "__main__":
    main()
