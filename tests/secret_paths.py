"""The paths of a config's secret fields, as ``pulumi config set --secret --path`` marks them (one leaf each)."""

from __future__ import annotations

from typing import Any

from components.config import SECRET_FIELDS, format_path


def leaves(raw: Any) -> list[str]:
    """Every secret field set in ``raw``: only those leaves are encrypted, the rest of each key is plaintext."""
    out: list[str] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), raw)]
    while stack:  # no recursion: values may be nested deeper than Python's stack
        path, value = stack.pop()
        if len(path) > 100:  # the config rejects deeper values before it looks for secrets
            continue
        if isinstance(value, dict):
            for k, v in value.items():
                if k in SECRET_FIELDS and v is not None:
                    out.append(format_path((*path, k)))
                else:
                    stack.append(((*path, k), v))
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in enumerate(value))
    return sorted(out)
