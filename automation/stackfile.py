"""Read ``Pulumi.<stack>.yaml`` directly and validate it with the program's own config parser.

This runs before any engine work: a bad stack file fails in a second, with the same
message the program would print (``kommander:projects[2].name: ...``). Encrypted
values cannot be decrypted offline, so each ``secure:`` leaf is replaced by a
placeholder and its top-level key is marked secret, exactly as the engine would mark
it. Defaults declared in ``Pulumi.yaml`` apply as they do for the engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components import config

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
    project = yaml.safe_load((project_root / "Pulumi.yaml").read_text()) or {}
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


def load(project_root: Path, stack: str) -> StackFile:
    """Read and validate ``Pulumi.<stack>.yaml``; raises :class:`config.ConfigError` naming the key."""
    path = project_root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise StackFileError(f"no stack file {path.name}: create it (see README.md) or pick another --stack")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path.name}: not valid YAML ({str(exc).splitlines()[0]})") from None
    values = (data.get("config") or {}) if isinstance(data, Mapping) else None
    if not isinstance(values, Mapping):
        raise StackFileError(f"{path.name}: 'config' must be a mapping of namespaced keys")
    raw, secret = raw_config(values, project_defaults(project_root))
    cfg = config.parse(raw, secret, stack)
    context = values.get("kubernetes:context")
    return StackFile(path=path, config=cfg, kube_context=context if isinstance(context, str) else None)
