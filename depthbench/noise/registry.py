"""The one registry of noise-model and sensor-profile names, and the spec-string parser.

Grammar (whitespace ignored)::

    spec  := term ("+" term)*                 models apply left to right
    term  := NAME | NAME "(" [param ("," param)*] ")"
    param := KEY "=" VALUE                    VALUE: a number, a bare word/path, or a '...'/"..." quoted string

NAME is a model (`dropout(p=0.05)`) or a sensor profile (`kinect-v1`, `clean`; profiles take no parameters).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass
from typing import Any

from depthbench.errors import DepthbenchError
from depthbench.noise.base import NoiseModel, Pipeline


@dataclass(frozen=True)
class NoiseInfo:
    name: str
    kind: str  # "model" or "profile"
    summary: str
    source: str
    params: dict[str, Any]  # parameter -> default (models); empty for profiles
    spec: str  # canonical spec with defaults (models) or the expanded pipeline (profiles)


_MODELS: dict[str, type[NoiseModel]] = {}
_PROFILES: dict[str, tuple[str, str, str]] = {}  # name -> (spec, summary, source)


def register_noise(cls: type[NoiseModel]) -> type[NoiseModel]:
    """Class decorator: make a NoiseModel dataclass buildable by its `name` in spec strings."""
    if cls.name in _MODELS or cls.name in _PROFILES:
        raise ValueError(f"noise name '{cls.name}' is registered twice")
    _MODELS[cls.name] = cls
    return cls


def register_profile(name: str, spec: str, *, summary: str, source: str) -> None:
    """A sensor profile is a named spec over registered models, with the datasheet/paper its numbers come from."""
    if name in _MODELS or name in _PROFILES:
        raise ValueError(f"noise name '{name}' is registered twice")
    _PROFILES[name] = (spec, summary, source)


def _known() -> str:
    return f"models: {', '.join(sorted(_MODELS))}; profiles: {', '.join(sorted(_PROFILES))}"


def list_noise_models() -> list[NoiseInfo]:
    """Every model (with its parameter defaults) and every profile, models first, each group sorted by name."""
    infos = []
    for name in sorted(_MODELS):
        cls = _MODELS[name]
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        infos.append(NoiseInfo(name, "model", cls.summary, cls.source, defaults, cls().spec))
    for name in sorted(_PROFILES):
        spec, summary, source = _PROFILES[name]
        infos.append(NoiseInfo(name, "profile", summary, source, {}, build_noise(name).expanded_spec))
    return infos


_TERM = re.compile(r"\s*([A-Za-z][\w\-]*)\s*(?:\((.*?)\))?\s*$", re.S)
_PARAM = re.compile(r"\s*(\w+)\s*=\s*('[^']*'|\"[^\"]*\"|[^,]*?)\s*$", re.S)


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside parentheses and quotes."""
    parts, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _convert(model: str, key: str, raw: str, kind: Any) -> Any:
    if raw[:1] in "'\"" and raw[-1:] == raw[:1] and len(raw) >= 2:
        raw = raw[1:-1]
    try:
        if kind is str:
            return raw
        if kind is int:
            number = float(raw)
            if number != int(number):
                raise ValueError
            return int(number)
        return float(raw)
    except (ValueError, OverflowError):
        expected = {int: "an integer", float: "a number"}[kind]
        raise DepthbenchError(f"{model}({key}={raw}): expected {expected}") from None


def _build_term(term: str, spec: str) -> NoiseModel:
    match = _TERM.match(term)
    if not match or not term.strip():
        raise DepthbenchError(
            f"cannot parse '{term.strip()}' in noise spec '{spec}'; write NAME or NAME(key=value, ...)"
        )
    name, arguments = match.group(1), match.group(2)
    if name in _PROFILES:
        if arguments is not None and arguments.strip():
            raise DepthbenchError(f"profile '{name}' takes no parameters; add models after it: '{name}+dropout(p=0.1)'")
        profile_spec = _PROFILES[name][0]
        terms = _split_top_level(profile_spec, "+") if profile_spec else []
        return Pipeline([_build_term(t, profile_spec) for t in terms], name=name)
    if name not in _MODELS:
        raise DepthbenchError(f"unknown noise model '{name}' in spec '{spec}'; {_known()}")
    cls = _MODELS[name]
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for param in _split_top_level(arguments or "", ","):
        if not param.strip():
            continue
        param_match = _PARAM.match(param)
        if not param_match:
            raise DepthbenchError(f"cannot parse parameter '{param.strip()}' of {name}; write key=value")
        key, raw = param_match.groups()
        if key not in allowed:
            raise DepthbenchError(
                f"noise model '{name}' has no parameter '{key}'; its parameters: {', '.join(allowed)}"
            )
        if key in kwargs:
            raise DepthbenchError(f"parameter '{key}' of {name} is given twice")
        kwargs[key] = _convert(name, key, raw, hints[key])
    return cls(**kwargs)


def build_noise(spec: str) -> NoiseModel:
    """Build a model, profile or pipeline from a spec string such as "speckle(p=0.02)+dropout(p=0.05)"."""
    if not isinstance(spec, str) or not spec.strip():
        raise DepthbenchError(f"empty noise spec; use 'clean' for no noise, or one of the {_known()}")
    terms = _split_top_level(spec, "+")
    models = [_build_term(term, spec) for term in terms]
    return models[0] if len(models) == 1 else Pipeline(models)
