"""Shared fixtures: the program under mocks with its graph recorded, and schema validation."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from harness import Graph, run  # noqa: E402
from schemas import validate  # noqa: E402


@pytest.fixture(autouse=True)
def gc_thresholds() -> Iterator[None]:
    """Each test starts and ends with the worker's collector thresholds (``__main__`` changes them)."""
    previous = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*previous)


@pytest.fixture
def program() -> Callable[..., Graph]:
    """Run a callable as a Pulumi program under fresh mocks; every emitted object is schema-checked."""

    def _run(fn: Callable[[], Any], **kwargs: Any) -> Graph:
        graph = run(fn, **kwargs)
        for _, obj in graph.k8s_objects():
            validate(obj)
        return graph

    return _run


@pytest.fixture
def git_server(tmp_path: Path) -> Any:
    """A bare repository behind ``git http-backend`` with basic auth on 127.0.0.1 (port 0)."""
    from gitserver import GitServer

    server = GitServer(tmp_path / "git-server").start()
    try:
        yield server
    finally:
        server.stop()
