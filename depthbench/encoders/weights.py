"""Finding and loading pretrained weights: local file first, then the public source, never a silent fallback.

Resolution for a keyword such as weights="defm": DEPTHBENCH_WEIGHTS_DIR/<local file name> if it exists, else a download
through huggingface_hub (`hf_hub_download`, which caches under ~/.cache/huggingface) or torch.hub (for plain URLs,
cached under ~/.cache/torch/hub/checkpoints). A path given directly is used as is.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import urllib.parse
import warnings
from pathlib import Path

import torch
from torch import nn

from depthbench.encoders.registry import EncoderInfo, WeightsSource
from depthbench.errors import DepthbenchError, first_line

WEIGHTS_DIR_ENV = "DEPTHBENCH_WEIGHTS_DIR"


def resolve_weights(info: EncoderInfo, weights: str | os.PathLike) -> tuple[Path, str, WeightsSource | None]:
    """(checkpoint path, human-readable source, its WeightsSource or None for a plain path) for `weights`."""
    if isinstance(weights, str) and weights in info.weights:
        source = info.weights[weights]
        local_dir = os.environ.get(WEIGHTS_DIR_ENV)
        if local_dir and (Path(local_dir) / source.local_name).is_file():
            path = Path(local_dir) / source.local_name
            return path, str(path), source
        return _download(info, weights, source), source.remote, source
    path = Path(weights).expanduser()
    if path.is_file():
        return path, str(path), None
    known = ", ".join(repr(k) for k in info.weights) or "none"
    raise DepthbenchError(
        f"weights {str(weights)!r} for {info.name} is neither a file nor a known keyword (keywords: {known}; "
        "None = random init)"
    )


def find_local_weights(source: WeightsSource) -> tuple[Path | None, str]:
    """(path or None, where) of `source` on this machine, never downloading: DEPTHBENCH_WEIGHTS_DIR, then the
    huggingface_hub or torch.hub cache that `resolve_weights` would fill. For `depthbench doctor`."""
    local_dir = os.environ.get(WEIGHTS_DIR_ENV)
    if local_dir and (Path(local_dir) / source.local_name).is_file():
        return Path(local_dir) / source.local_name, f"${WEIGHTS_DIR_ENV}"
    if source.hf_repo is not None:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id=source.hf_repo, filename=source.filename)
        if isinstance(cached, str):
            return Path(cached), "huggingface_hub cache"
    elif source.url is not None:
        target = Path(torch.hub.get_dir()) / "checkpoints" / source.filename
        if target.is_file():
            return target, "torch.hub cache"
    where = f"${WEIGHTS_DIR_ENV}/{source.local_name}" if local_dir else f"${WEIGHTS_DIR_ENV} unset"
    return None, f"missing ({where}; not in the {'huggingface_hub' if source.hf_repo else 'torch.hub'} cache)"


def _download(info: EncoderInfo, keyword: str, source: WeightsSource) -> Path:
    try:
        if source.hf_repo is not None:
            from huggingface_hub import constants, hf_hub_download
            from huggingface_hub.errors import LocalEntryNotFoundError

            try:  # the cache first: no network round trip when the file was downloaded before
                return Path(hf_hub_download(repo_id=source.hf_repo, filename=source.filename, local_files_only=True))
            except LocalEntryNotFoundError:
                pass
            if constants.HF_HUB_OFFLINE:
                raise ConnectionError("HF_HUB_OFFLINE is set") from None
            _require_reachable(constants.ENDPOINT)
            return Path(hf_hub_download(repo_id=source.hf_repo, filename=source.filename))
        if source.url is not None:
            target = Path(torch.hub.get_dir()) / "checkpoints" / source.filename
            if not target.is_file():
                _require_reachable(source.url)
                target.parent.mkdir(parents=True, exist_ok=True)
                torch.hub.download_url_to_file(source.url, str(target), progress=True)
            return target
    except Exception as exc:  # offline, blocked, or missing on the hub: one actionable message, no traceback
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DepthbenchError(
            f"could not get {keyword} weights {source.filename} for {info.name} from {source.remote} ({reason[:160]}); "
            f"download it and pass --weights PATH (weights=PATH), or put it in ${WEIGHTS_DIR_ENV}/{source.local_name}"
        ) from exc
    raise DepthbenchError(
        f"{keyword} weights {source.filename} for {info.name} have no public download; put the file in "
        f"${WEIGHTS_DIR_ENV}/{source.local_name} or pass --weights PATH"
    )


def _require_reachable(url: str, timeout_s: float = 3.0) -> None:
    """Fail fast when the host cannot be reached: huggingface_hub otherwise retries for ~25 s before giving up."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        return  # behind a proxy a direct connection test says nothing
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
    except OSError as exc:
        raise ConnectionError(f"cannot reach {parts.hostname}:{port} ({exc})") from None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _list(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown


def load_weights(module: nn.Module, info: EncoderInfo, resolved: tuple[Path, str, WeightsSource | None]) -> str:
    """Load resolved weights (from `resolve_weights`) into `module` strictly; return "<source> sha256:<12 hex>"."""
    path, where, source = resolved
    try:
        checkpoint = _read_checkpoint(path)
    except Exception as exc:  # torch, pickle, zip and safetensors errors: all mean "not a readable state dict"
        raise DepthbenchError(
            f"cannot read weights file {path} ({_read_failure(exc)}); it must be a state dict saved with "
            "torch.save(model.state_dict()) or a .safetensors file: re-download it or pass another --weights PATH"
        ) from None
    note = checkpoint.get("provenance") if isinstance(checkpoint, dict) else None  # `depthbench pretrain` outputs
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("model"), dict):  # training checkpoints nest it
        checkpoint = checkpoint["model"]
    if not isinstance(checkpoint, dict):
        raise DepthbenchError(f"checkpoint {path} holds a {type(checkpoint).__name__}, not a state dict")
    # A plain path gets the key rules of the encoder's public weights (e.g. a manually downloaded torchvision file).
    rules = source if source is not None else next(iter(info.weights.values()), None)
    ignored = rules.ignore_prefixes if rules is not None else ()
    prefix = rules.key_prefix if rules is not None and not _has_prefix(checkpoint, rules.key_prefix) else ""
    state = {prefix + k: v for k, v in checkpoint.items() if not k.startswith(ignored)}
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong_shape:
        problems = [("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong_shape)]
        details = "; ".join(f"{label}: {_list(keys)}" for label, keys in problems if keys)
        raise DepthbenchError(f"checkpoint {path} does not fit {info.name}: {details}; is it the right variant?")
    module.load_state_dict(state, strict=True)
    provenance = f"{where} sha256:{file_sha256(path)[:12]}"
    return f"{provenance} [{note}]" if isinstance(note, str) else provenance


def _has_prefix(checkpoint: dict, prefix: str) -> bool:
    """Whether a checkpoint was saved from the adapter itself (keys already prefixed), e.g. after fine-tuning."""
    return bool(prefix) and all(k.startswith(prefix) for k in checkpoint)


def _read_failure(exc: Exception) -> str:
    """Why a checkpoint did not load, in a few words.

    torch's weights-only refusal is a paragraph that suggests turning the safe loader off (depthbench never does); only
    its detail line (e.g. "Unsupported operand 173": corrupt bytes, or a pickled non-tensor object) is kept.
    """
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) and "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0]
        return f"torch's weights-only loader refused it: {detail[:120]}"
    return f"{type(exc).__name__}: {first_line(exc, 120)}"


def _read_checkpoint(path: Path) -> object:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error (if any) says it in one line
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)
