"""Read ``Pulumi.<stack>.yaml`` directly and validate it with the program's own config parser.

This runs before any engine work: a bad stack file fails in a second, with the same
message the program would print (``kommander:projects[2].name: ...``). Encrypted
values cannot be decrypted offline, so each ``secure:`` leaf is replaced by a
placeholder and its top-level key is marked secret, exactly as the engine would mark
it. Defaults declared in ``Pulumi.yaml`` apply as they do for the engine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components import config, stack_plan

#: What a ``secure:`` leaf becomes for offline validation (never a real secret): a value of
#: the right shape for the field, so that only the structure around it is judged.
PLACEHOLDER = "encrypted-value-not-decrypted-offline"
PLACEHOLDERS: dict[str, str] = {
    "kubeconfig": yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "offline", "cluster": {"server": "https://offline.invalid"}}],
            "users": [{"name": "offline", "user": {"token": PLACEHOLDER}}],
            "contexts": [{"name": "offline", "context": {"cluster": "offline", "user": "offline"}}],
            "current-context": "offline",
        }
    ),
    "identity": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PLACEHOLDER}\n-----END OPENSSH PRIVATE KEY-----\n",
    "knownHosts": "offline.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOfflineOfflineOfflineOfflineOfflineOffline",
}


class StackFileError(config.ConfigError):
    """The stack file is missing or not a Pulumi stack file."""


#: A stack file is small and flat: deeper nesting, or aliases that expand to more values, is not one.
MAX_DEPTH = 64
MAX_VALUES = 100_000
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class _RefusedError(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (as the Pulumi CLI's YAML parser does)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if (key.tag, key.value) in seen:
                    raise _RefusedError(key.start_mark.line + 1, f"duplicate key {key.value!r}")
                seen.add((key.tag, key.value))
        return super().construct_mapping(node, deep)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)


def _check_depth(text: str) -> None:
    """Nesting deeper than :data:`MAX_DEPTH` (checked on the event stream, before anything recursive runs)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark is not None else 0
                raise _RefusedError(line, f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_size(node: yaml.Node | None) -> None:
    """Values the document expands to, aliases counted each time they are used (and no alias cycle)."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(n: yaml.Node) -> int:
        if id(n) in sizes:
            return sizes[id(n)]
        if id(n) in open_:
            raise _RefusedError(n.start_mark.line + 1, "an alias refers to a value that contains it")
        open_.add(id(n))
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(v) for v in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        if total > MAX_VALUES:
            raise _RefusedError(
                n.start_mark.line + 1, f"aliases expand to more than {MAX_VALUES} values (a YAML alias bomb?)"
            )
        open_.discard(id(n))
        sizes[id(n)] = total
        return total

    if node is not None:
        size(node)


def _read_yaml(path: Path) -> Any:
    """One YAML document from ``path``: UTF-8, at most :data:`MAX_DEPTH` deep and :data:`MAX_VALUES` values,
    no duplicate key, plain data only; anything else is a one-line :class:`StackFileError`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StackFileError(f"{path.name}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StackFileError(
            f"{path.name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        _check_depth(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            _check_size(node)
            return loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except _RefusedError as exc:
        raise StackFileError(f"{path.name}: line {exc.line}: {exc.reason}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise StackFileError(f"{path.name}: not valid YAML ({where}{problem})") from None


@dataclass(frozen=True)
class StackFile:
    """What the driver needs from a stack file."""

    path: Path
    config: config.StackConfig
    kube_context: str | None


def _is_secure(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"secure"}


def _placeholders(value: Any, field: str = "") -> tuple[Any, bool]:
    """``value`` with every ``secure:`` leaf replaced, and whether there was one."""
    if _is_secure(value):
        return PLACEHOLDERS.get(field, PLACEHOLDER), True
    if isinstance(value, Mapping):
        found = False
        out: dict[str, Any] = {}
        for k, v in value.items():
            out[k], hit = _placeholders(v, str(k))
            found |= hit
        return out, found
    if isinstance(value, list):
        items = [_placeholders(v, field) for v in value]
        return [v for v, _ in items], any(hit for _, hit in items)
    return value, False


def _decode(value: Any) -> Any:
    """A string holding JSON structure (or a boolean) decoded, as the engine's config does; else as is."""
    if not isinstance(value, str):
        return value
    try:
        decoded = json.loads(value)
    except json.JSONDecodeError:
        return value
    return decoded if isinstance(decoded, dict | list | bool) else value


def project_defaults(project_root: Path) -> dict[str, Any]:
    """The defaults ``Pulumi.yaml`` declares for project keys, typed as the engine passes them."""
    project = _read_yaml(project_root / "Pulumi.yaml") or {}
    out: dict[str, Any] = {}
    for key, decl in (project.get("config") or {}).items():
        name = key.split(":", 1)[1] if ":" in key else key
        if isinstance(decl, Mapping) and "default" in decl:
            out[name] = decl["default"]
    return out


def raw_config(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The ``kommander:`` keys of a stack file's ``config:`` block, ready for ``config.parse``."""
    raw: dict[str, Any] = dict(defaults)
    secret: list[str] = []
    for key, value in values.items():
        namespace, _, name = str(key).partition(":")
        if namespace != config.PROJECT or not name:
            continue
        if _is_secure(value):
            # A whole key encrypted: its shape cannot be checked offline; the program checks it.
            raw.pop(name, None)
            if name not in config.KEYS:
                raw[name] = PLACEHOLDER  # still reported as an unknown key
            secret.append(name)
            continue
        clean, had_secret = _placeholders(value)
        raw[name] = _decode(clean)
        if had_secret:  # the encrypted leaves, not the whole key: a plaintext secret field beside one is an error
            secret.extend(config.secure_leaf_paths(name, value))
    return raw, secret


def stack_names(project_root: Path, stack: str) -> tuple[str, str]:
    """``(name, short)`` of ``--stack``: ``stack``, ``org/stack`` or ``org/project/stack``; the stack file and the
    generated passphrase go by the short name, as the Pulumi CLI's do."""
    parts = stack.split("/")
    if not 1 <= len(parts) <= 3 or not all(_NAME.match(p) and p not in (".", "..") for p in parts):
        raise StackFileError(
            f"--stack {stack!r}: not a stack name "
            "(stack, org/stack or org/project/stack; letters, digits, '-', '_', '.')"
        )
    if len(parts) == 3:
        project = _read_yaml(project_root / "Pulumi.yaml")
        name = project.get("name") if isinstance(project, Mapping) else None
        if parts[1] != name:
            raise StackFileError(f"--stack {stack!r}: project {parts[1]!r} is not this project ({name!r}, Pulumi.yaml)")
    return stack, parts[-1]


def load(project_root: Path, stack: str) -> StackFile:
    """Read and validate ``Pulumi.<stack>.yaml``; raises :class:`config.ConfigError` naming the key."""
    _, short = stack_names(project_root, stack)
    path = project_root / f"Pulumi.{short}.yaml"
    if not path.is_file():
        raise StackFileError(f"no stack file {path.name}: create it (see README.md) or pick another --stack")
    data = _read_yaml(path) or {}
    values = (data.get("config") or {}) if isinstance(data, Mapping) else None
    if not isinstance(values, Mapping):
        raise StackFileError(f"{path.name}: 'config' must be a mapping of namespaced keys")
    raw, secret = raw_config(values, project_defaults(project_root))
    cfg = config.parse(raw, secret, short)
    stack_plan.build(cfg)  # the catalog, the app plan and the repository content: the program's own checks
    context = values.get("kubernetes:context")
    return StackFile(path=path, config=cfg, kube_context=context if isinstance(context, str) else None)
