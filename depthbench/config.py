"""YAML configs as plain dicts, with `--set key=value` overrides validated against the keys that exist."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import yaml

from depthbench.errors import DepthbenchError

CONFIG_ROOT = Path(__file__).resolve().parent.parent / "configs"


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read one YAML mapping; a missing or malformed file is a DepthbenchError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DepthbenchError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DepthbenchError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DepthbenchError(f"config file {path} must hold a mapping at the top level")
    return data


def merge(base: dict[str, Any], update: dict[str, Any], *, strict: bool = True, where: str = "") -> dict[str, Any]:
    """Deep-merge `update` into a copy of `base`; with strict, keys absent from base are an error."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        dotted = f"{where}.{key}" if where else key
        if strict and key not in out:
            known = ", ".join(sorted(map(str, out))) or "(none)"
            raise DepthbenchError(f"unknown config key '{dotted}'; known keys here: {known}")
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, strict=strict, where=dotted)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> dict[str, Any]:
    """Turn 'a.b.c=value' into {'a': {'b': {'c': value}}}, the value parsed as YAML (so 3, 0.1, true, [1,2] work)."""
    if "=" not in text:
        raise DepthbenchError(f"override '{text}' must look like key.path=value")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise DepthbenchError(f"override '{text}' has an empty key segment")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # YAML 1.1 reads '3e-4' (no dot) as a string; users mean a number
            value = float(value)
    nested: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return nested


def apply_overrides(cfg: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply `--set` overrides in order; unknown keys raise a DepthbenchError naming the bad key."""
    for text in overrides or []:
        cfg = merge(cfg, parse_override(text))
    return cfg
