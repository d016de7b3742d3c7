"""The kommander policy pack: ``pulumi preview --policy-pack policy``.

The rules live in :mod:`policy.policies` (importable and unit-tested); this file only
publishes them as a pack.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.policies import POLICIES

PolicyPack(
    name="kommander",
    description="Guard rails for the kommander management cluster stack.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=list(POLICIES),
)
