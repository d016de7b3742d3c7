"""Edit one value of ``Pulumi.<stack>.yaml`` in place, keeping the rest of the file as it is.

``ruamel.yaml`` round-trips the file (comments, key order, flow style, quotes); the result
is read back and must equal the old data with just that one value changed, else nothing
is written. Used by ``suspend``/``resume`` so that the next ``up`` (from CI) keeps them.
"""

from __future__ import annotations

import copy
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.util import load_yaml_guess_indent

from components import config


class StackEditError(config.ConfigError):
    """The stack file cannot be edited safely (the message names the key)."""


@dataclass(frozen=True)
class Edit:
    """A prepared edit: write() replaces the file's text."""

    path: Path
    key: str
    before: str
    text: str

    def write(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(self.text)
        tmp.replace(self.path)


_STEP = re.compile(r"\.?([A-Za-z][A-Za-z0-9_-]*)|\[(\d+)\]")


def _steps(path: str) -> list[str | int]:
    """``projects[0].sources[1].suspend`` -> ``['projects', 0, 'sources', 1, 'suspend']``."""
    out: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            raise ValueError(f"bad config path {path!r}")
        out.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    return out


def _set(node: Any, steps: list[str | int], value: Any, key: str) -> str:
    """Set the leaf; returns its previous value as text (``unset`` when absent)."""
    for step in steps[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            raise StackEditError(f"{key}: not in the stack file") from None
    leaf = steps[-1]
    if not isinstance(node, dict):
        raise StackEditError(f"{key}: not in the stack file")
    if isinstance(node.get(leaf), dict) and set(node[leaf]) == {"secure"}:
        raise StackEditError(f"{key}: is encrypted; set it with `pulumi config set --path`")
    before = node.get(leaf, None)
    node[leaf] = value
    return "unset" if before is None else json.dumps(before)


def prepare_suspend(path: Path, key: str, value: bool) -> Edit:
    """The edit that sets ``<key>.suspend`` (``key`` as ``kommander:projects[0].sources[1]``)."""
    return prepare(path, f"{key}.suspend", value)


def prepare(path: Path, key: str, value: Any) -> Edit:
    """The edit that sets the config value at ``key`` (``kommander:projects[0].sources[1].suspend``)."""
    text = path.read_text()
    namespace, _, rest = key.partition(":")
    steps = _steps(rest)
    top = f"{namespace}:{steps[0]}"
    yml = YAML()
    yml.preserve_quotes = True
    yml.width = 4096
    data, indent, offset = load_yaml_guess_indent(text)
    if indent is not None:
        yml.indent(mapping=2, sequence=indent, offset=offset)
    data = yml.load(text)
    cfg = data.get("config") if isinstance(data, dict) else None
    if not isinstance(cfg, dict) or top not in cfg:
        raise StackEditError(f"{key}: {top} is not in {path.name}")
    current = cfg[top]
    if isinstance(current, dict) and set(current) == {"secure"}:
        raise StackEditError(f"{key}: {top} is encrypted as a whole; set it with `pulumi config set --path`")
    if isinstance(current, str):  # the engine's JSON-in-a-string form
        try:
            decoded = json.loads(current)
        except json.JSONDecodeError:
            raise StackEditError(f"{key}: {top} is not structured config") from None
        before = _set(decoded, steps[1:], value, key)
        cfg[top] = json.dumps(decoded)
    else:
        before = _set(current, steps[1:], value, key)
    out = io.StringIO()
    yml.dump(data, out)
    new_text = out.getvalue()
    # The result must be the old data with exactly this one value changed.
    expected = copy.deepcopy(yaml.safe_load(text))
    if isinstance(expected["config"][top], str):
        inner = json.loads(expected["config"][top])
        _set(inner, steps[1:], value, key)
        expected["config"][top] = inner
        got = yaml.safe_load(new_text)
        got["config"][top] = json.loads(got["config"][top])
    else:
        _set(expected["config"][top], steps[1:], value, key)
        got = yaml.safe_load(new_text)
    if got != expected:
        raise StackEditError(f"{key}: {path.name} would not round-trip; edit it by hand")
    return Edit(path, key, before, new_text)
