"""The paths of a config's secret fields, as ``pulumi config set --secret --path`` marks them (one leaf each)."""

from __future__ import annotations

from typing import Any

from components.config import SECRET_FIELDS, format_path


def leaves(raw: Any, path: tuple[str | int, ...] = ()) -> list[str]:
    """Every secret field set in ``raw``: only those leaves are encrypted, the rest of each key is plaintext."""
    out: list[str] = []
    if isinstance(raw, dict):
        for k, v in raw.items():
            if k in SECRET_FIELDS and v is not None:
                out.append(format_path((*path, k)))
            else:
                out += leaves(v, (*path, k))
    elif isinstance(raw, list):
        for i, v in enumerate(raw):
            out += leaves(v, (*path, i))
    return out
