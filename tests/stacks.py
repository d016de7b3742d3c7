"""The whole program as each shipped stack file configures it (``Pulumi.<stack>.yaml``).

The stack file is read and validated offline, as ``python -m automation`` does
(``secure:`` values become placeholders), and the program runs under the recording
mocks once per test process.
"""

from __future__ import annotations

import functools
from pathlib import Path

from harness import Graph, run

from automation import stackfile
from components import stack_plan
from components.management_cluster import ManagementCluster

ROOT = Path(__file__).resolve().parent.parent
STACKS = tuple(sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml")))


@functools.cache
def stack_graph(stack: str) -> Graph:
    """The recorded resource graph of the program with ``Pulumi.<stack>.yaml``'s config."""
    cfg = stackfile.load(ROOT, stack).config
    return run(lambda: ManagementCluster("kommander", stack_plan.build(cfg)), stack=stack)
