"""How the program's process runs Python's cyclic garbage collector.

A Pulumi program builds every resource before the engine registers any, and then keeps
every registration in flight (its tasks, futures and Outputs) while the engine works. The
heap grows with the stack and nearly all of it stays alive until the process ends. CPython
3.11's full (generation 2) collections rescan that whole heap, more often as it grows, and
free next to nothing: at 200 projects (11,866 resources) under the SDK's mocks, 17 full
collections took 12 s of a 31 s run, scanning up to 2.7 million objects each and freeing
about 35,000 in all. That cost grows faster than the stack does (see ``benchmarks/``).

:func:`young_collections_only` turns full collections off for the rest of the process
(a ``pulumi preview``/``up`` runs the program in a process of its own). Young collections
(generations 0 and 1) still run, so short-lived reference cycles, which the SDK makes on
every Output it resolves, are still freed: peak memory is unchanged.
"""

from __future__ import annotations

import gc

#: Generation-1 collections between two full ones; this many never happen in a program run.
NO_FULL_COLLECTIONS = 1_000_000_000


def young_collections_only() -> tuple[int, int, int]:
    """Keep the young generations' thresholds, never start a full collection; return the old thresholds."""
    previous: tuple[int, int, int] = gc.get_threshold()
    gc.set_threshold(previous[0], previous[1], NO_FULL_COLLECTIONS)
    return previous
