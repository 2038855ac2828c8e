"""Encoder registry: `@register_encoder(name)` on a builder, plus third-party encoders via entry points.

A builder takes no arguments and returns the bare, randomly initialised network (a "backbone"), an nn.Module with:
  - `forward(x) -> (global_embedding (N,D), [dense maps (N,C,h,w), ...])` on already-normalized input,
  - `preprocess(depth_m (N,1,H,W) metres) -> x` its input convention,
  - `global_dim: int`, `dense_channels: list[int]`,
  - `stages() -> list[nn.Module]` (input side first) and `neck() -> list[nn.Module]` for partial fine-tuning.
`depthbench.encoders.create` wraps it with weights, a training mode and a feature head.

Third-party packages declare an entry point in the group `depthbench.encoders` (name: anything, value: a module
or an object in it); loading it imports the module, whose `@register_encoder` decorators add its encoders.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from depthbench.errors import DepthbenchError

ENTRY_POINT_GROUP = "depthbench.encoders"
# Built-in encoder modules, imported on first use (one line per family file).
_BUILTIN_MODULES = (
    "depthbench.encoders.defm_cnn",
    "depthbench.encoders.defm_vit",
    "depthbench.encoders.baselines",
)
DEFAULT_FEATURE_DIM = 256


@dataclass(frozen=True)
class WeightsSource:
    """Where one set of public weights lives: `filename` is looked up in DEPTHBENCH_WEIGHTS_DIR first, then fetched
    from the Hugging Face repo `hf_repo` (through huggingface_hub's cache) or from `url` (torch.hub's cache).

    `ignore_prefixes` names checkpoint keys the encoder drops on purpose (e.g. a classifier head it does not use);
    `key_prefix` is prepended to every checkpoint key when the published network sits inside an adapter module.
    `local_filename` is the name looked up in DEPTHBENCH_WEIGHTS_DIR when the hub's name is generic.
    """

    filename: str
    hf_repo: str | None = None
    url: str | None = None
    ignore_prefixes: tuple[str, ...] = ()
    key_prefix: str = ""
    local_filename: str | None = None

    @property
    def local_name(self) -> str:
        return self.local_filename or self.filename

    @property
    def remote(self) -> str:
        if self.hf_repo is not None:
            return f"https://huggingface.co/{self.hf_repo}/blob/main/{self.filename}"
        return self.url or "(no public download)"


DEFM_HF_REPO = "leggedrobotics/defm"  # pinned: the official DeFM weights (files defm_<variant>.pth)


def defm_weights(variant: str) -> WeightsSource:
    """The official checkpoint of DeFM `variant` (e.g. 'regnet-y-1.6gf' -> defm_regnet_y_1_6gf.pth)."""
    filename = f"defm_{variant.replace('-', '_').replace('.', '_')}.pth"
    return WeightsSource(filename=filename, hf_repo=DEFM_HF_REPO)


@dataclass(frozen=True)
class EncoderInfo:
    """What `depthbench encoders list` shows about an encoder, and how to build it."""

    name: str
    family: str
    summary: str
    input_convention: str
    builder: Callable[[], nn.Module] = field(repr=False)
    weights: dict[str, WeightsSource] = field(default_factory=dict)
    default_feature_dim: int = DEFAULT_FEATURE_DIM
    source: str = "depthbench"


_REGISTRY: dict[str, EncoderInfo] = {}
_loaded = False
_current_plugin: list[str] = []  # the entry point being loaded, so its registrations record where they came from


def _source() -> str:
    return _current_plugin[-1] if _current_plugin else "depthbench"


def register_encoder(
    name: str,
    *,
    family: str = "plugin",
    summary: str = "",
    input_convention: str = "",
    weights: dict[str, WeightsSource] | None = None,
    default_feature_dim: int = DEFAULT_FEATURE_DIM,
) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    """Register `builder` under a kebab-case `name`; `weights` maps keywords (e.g. "defm") to public weights."""
    if not name or name != name.lower() or " " in name or "_" in name:
        raise DepthbenchError(f"encoder name {name!r} must be kebab-case (lowercase, '-' between words)")

    def decorate(builder: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        if name in _REGISTRY:
            raise DepthbenchError(f"encoder {name!r} is registered twice ({_REGISTRY[name].source} and {_source()})")
        _REGISTRY[name] = EncoderInfo(
            name=name,
            family=family,
            summary=summary,
            input_convention=input_convention,
            builder=builder,
            weights=dict(weights or {}),
            default_feature_dim=default_feature_dim,
            source=_source(),
        )
        return builder

    return decorate


def load_encoders(reload_plugins: bool = False) -> None:
    """Import the built-in encoder modules and every `depthbench.encoders` entry point (once, or again on request)."""
    global _loaded
    if _loaded and not reload_plugins:
        return
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist.name if entry_point.dist is not None else "?"
        _current_plugin.append(f"{dist}:{entry_point.value}")
        try:
            entry_point.load()
        except Exception as exc:  # a broken plugin must name itself, not surface as a bare ImportError
            raise DepthbenchError(
                f"encoder plugin {entry_point.name!r} ({entry_point.value}, from {dist}) failed to load: {exc}; "
                f"fix or uninstall {dist}"
            ) from exc
        finally:
            _current_plugin.pop()
    _loaded = True


def get_encoder_info(name: str) -> EncoderInfo:
    """The registration of `name`; unknown names are an error that lists the known ones."""
    load_encoders()
    if name not in _REGISTRY:
        raise DepthbenchError(f"unknown encoder {name!r}; known encoders: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def list_encoders() -> list[EncoderInfo]:
    """Every registered encoder: DeFM first, then baselines, then plugins; by name within a family."""
    load_encoders()
    order = {"defm-vit": 0, "defm-cnn": 1, "baseline": 2}
    return sorted(_REGISTRY.values(), key=lambda info: (order.get(info.family, 3), info.family, info.name))
