"""The program's garbage-collector policy: young collections only, no full collections."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from components import gc_policy


@pytest.fixture
def generations() -> Iterator[list[int]]:
    """The generations of the automatic collections that run while the test does."""
    seen: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.collect()  # a clean start: the heap's live objects are the long-lived total
    gc.callbacks.append(record)
    try:
        yield seen
    finally:
        gc.callbacks.remove(record)


def grow_heap() -> list[list[int]]:
    """Keep alive enough new containers for CPython's default thresholds to start a full collection.

    Python starts one after 10 generation-1 collections (77,000 allocations at the default
    thresholds) once the objects promoted since the last one exceed a quarter of the heap.
    """
    return [[] for _ in range(len(gc.get_objects()) // 2 + 100_000)]


def test_returns_the_previous_thresholds_and_keeps_the_young_ones() -> None:
    gc.set_threshold(700, 10, 10)
    assert gc_policy.young_collections_only() == (700, 10, 10)
    assert gc.get_threshold() == (700, 10, gc_policy.NO_FULL_COLLECTIONS)


def test_python_default_starts_full_collections_as_the_heap_grows(generations: list[int]) -> None:
    gc.set_threshold(700, 10, 10)
    kept = grow_heap()
    assert 2 in generations, "the control: with Python's default thresholds the same growth runs a full collection"
    del kept


def test_no_full_collection_as_the_heap_grows(generations: list[int]) -> None:
    gc.set_threshold(700, 10, 10)
    gc_policy.young_collections_only()
    kept = grow_heap()
    assert 2 not in generations
    assert {0, 1} <= set(generations)
    del kept


def test_young_collections_still_free_reference_cycles(generations: list[int]) -> None:
    gc_policy.young_collections_only()

    class Node:
        pass

    node = Node()
    node.itself = node  # type: ignore[attr-defined]
    ref = weakref.ref(node)
    del node
    threshold0, threshold1, _ = gc.get_threshold()
    kept = [[] for _ in range(2 * threshold0 * (threshold1 + 1))]  # past one generation-1 collection
    assert ref() is None, "a short-lived cycle is freed without a full collection"
    assert 2 not in generations
    del kept
