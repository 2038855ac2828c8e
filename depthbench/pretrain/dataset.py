"""Depth datasets on disk, for encoder pretraining: one folder, one format, provenance beside the frames.

Layout of a dataset folder:
  manifest.json          schema "depthbench.depth-dataset/1": frames, height, width, shards, units, and provenance
                         (source: "task" or "folder", task, split, seeds, policy, noise, command, created)
  frames_00000.npy ...   uint16 arrays (n, H, W) of depth in millimetres, 0 = no return (max 65.535 m)

Why uint16 millimetres: half the bytes of float32 at a resolution (1 mm) finer than any depth sensor's, the unit of
16-bit depth PNGs, and shards read with `np.load(mmap_mode="r", allow_pickle=False)`: nothing in a downloaded
dataset can run code. Frames of one dataset share one size (crops are drawn from them).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depthbench.encoders.preprocess import require_metric_units
from depthbench.errors import DepthbenchError
from depthbench.files import read_npy

SCHEMA = "depthbench.depth-dataset/1"
MANIFEST = "manifest.json"
MM_PER_M = 1000.0
MAX_DEPTH_M = 65.535  # uint16 millimetres
SHARD_FRAMES = 4096


class DepthDatasetWriter:
    """Append (n, H, W) metric-depth batches; shards are written atomically, the manifest last (on `close`)."""

    def __init__(self, out: str | Path, provenance: dict[str, Any], *, overwrite: bool = False) -> None:
        self.out = Path(out)
        if (self.out / MANIFEST).exists() and not overwrite:
            raise DepthbenchError(f"{self.out} already holds a depth dataset; choose another --out")
        self.out.mkdir(parents=True, exist_ok=True)
        self.provenance = provenance
        self.pending: list[np.ndarray] = []
        self.shards: list[str] = []
        self.frames = 0
        self.size: tuple[int, int] | None = None

    def add(self, depth_m: np.ndarray) -> None:
        depth_m = np.asarray(depth_m, dtype=np.float64)
        if depth_m.ndim != 3:
            raise DepthbenchError(f"depth batches must be (n, H, W), got shape {depth_m.shape}")
        if self.size is None:
            self.size = depth_m.shape[1:]
        elif depth_m.shape[1:] != self.size:
            raise DepthbenchError(f"frame size {depth_m.shape[1:]} differs from the dataset's {self.size}")
        valid = np.isfinite(depth_m) & (depth_m > 0) & (depth_m <= MAX_DEPTH_M)  # beyond 65.535 m: no return
        self.pending.append(np.where(valid, np.rint(depth_m * MM_PER_M), 0).astype(np.uint16))
        self.frames += len(depth_m)
        while sum(len(p) for p in self.pending) >= SHARD_FRAMES:
            self._flush(SHARD_FRAMES)

    def _flush(self, count: int | None = None) -> None:
        frames = np.concatenate(self.pending) if self.pending else np.zeros((0, 1, 1), np.uint16)
        count = len(frames) if count is None else count
        shard, rest = frames[:count], frames[count:]
        self.pending = [rest] if len(rest) else []
        if not len(shard):
            return
        name = f"frames_{len(self.shards):05d}.npy"
        tmp = self.out / f".{name}.tmp{os.getpid()}.npy"
        np.save(tmp, shard, allow_pickle=False)
        os.replace(tmp, self.out / name)
        self.shards.append(name)

    def close(self) -> dict[str, Any]:
        self._flush()
        if not self.frames:
            raise DepthbenchError(f"no frames were written to {self.out}")
        from depthbench.agents.training import write_json_atomic

        manifest = {
            "schema": SCHEMA,
            "frames": self.frames,
            "height": int(self.size[0]),
            "width": int(self.size[1]),
            "shards": self.shards,
            "units": "uint16 millimetres, 0 = no return",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "provenance": self.provenance,
        }
        write_json_atomic(self.out / MANIFEST, manifest)
        return manifest


class DepthDataset:
    """A dataset folder, memory-mapped: `frames(indices)` -> float32 metres (n, 1, H, W)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise DepthbenchError(
                f"{self.root} is not a depth dataset (no {MANIFEST}); make one with `depthbench data collect`"
            )
        try:
            self.manifest = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DepthbenchError(f"{path} is not valid JSON ({exc})") from None
        if self.manifest.get("schema") != SCHEMA:
            raise DepthbenchError(f"{path} has schema {self.manifest.get('schema')!r}, expected {SCHEMA!r}")
        self.shards = [_load_shard(self.root / name) for name in self.manifest["shards"]]
        self.size = (int(self.manifest["height"]), int(self.manifest["width"]))
        for name, shard in zip(self.manifest["shards"], self.shards, strict=True):
            if shard.shape[1:] != self.size:
                raise DepthbenchError(
                    f"{self.root / name} holds {shard.shape[1:]} frames, the manifest says {self.size}"
                )
        self.offsets = np.cumsum([0] + [len(s) for s in self.shards])
        if int(self.offsets[-1]) != int(self.manifest["frames"]):
            raise DepthbenchError(
                f"{self.root}: shards hold {int(self.offsets[-1])} frames, the manifest says {self.manifest['frames']}"
            )

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def frames(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        shard_ids = np.searchsorted(self.offsets, indices, side="right") - 1
        out = np.empty((len(indices), 1, *self.size), dtype=np.float32)
        for shard_id in np.unique(shard_ids):
            rows = np.nonzero(shard_ids == shard_id)[0]
            local = indices[rows] - self.offsets[shard_id]
            out[rows, 0] = self.shards[shard_id][local] / MM_PER_M
        return out


def _load_shard(path: Path) -> np.ndarray:
    try:
        shard = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DepthbenchError(f"{path} is not a readable .npy shard ({' '.join(str(exc).split())[:160]})") from None
    if shard.dtype != np.uint16 or shard.ndim != 3:
        raise DepthbenchError(f"{path} holds {shard.dtype} {shard.shape}, expected uint16 (n, H, W) millimetres")
    return shard


def read_depth_file(path: Path, png_scale: float | None) -> np.ndarray:
    """One user depth image as float metres (H, W): `.npy` in metres, 16-bit `.png` in units of 1/`png_scale` m."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        depth = read_npy(path, "depth")
        if depth.ndim == 3 and depth.shape[0] == 1:
            depth = depth[0]
        if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
            raise DepthbenchError(
                f"{path}: .npy depth must be a float (H, W) array in metres, got {depth.dtype} {depth.shape}"
            )
        require_metric_units(
            torch.from_numpy(depth[None, None].astype(np.float32)),
            str(path),
            "save metres, or millimetres as a 16-bit PNG with --png-scale 1000",
        )
        return depth.astype(np.float64)
    if suffix == ".png":
        if png_scale is None:
            raise DepthbenchError(
                f"{path}: 16-bit PNG depth needs an explicit --png-scale (units per metre, 1000 for millimetres)"
            )
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                depth = np.asarray(image)
        except (OSError, UnidentifiedImageError) as exc:
            raise DepthbenchError(f"{path} is not a readable PNG ({exc})") from None
        if depth.dtype != np.uint16 or depth.ndim != 2:
            raise DepthbenchError(f"{path}: PNG depth must be single-channel 16-bit, got {depth.dtype} {depth.shape}")
        return depth.astype(np.float64) / png_scale
    raise DepthbenchError(f"{path}: unsupported depth file (use .npy metres or 16-bit .png)")


def import_folder(source: str | Path, out: str | Path, *, png_scale: float | None, command: str = "") -> dict[str, Any]:
    """A user's folder of depth images (recursively, sorted by path) -> a dataset folder. All frames one size."""
    source = Path(source)
    if not source.is_dir():
        raise DepthbenchError(f"--from {source} is not a folder")
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".npy", ".png") and p.is_file())
    if not files:
        raise DepthbenchError(f"--from {source} holds no .npy or .png depth files")
    provenance = {
        "source": "folder",
        "folder": str(source.resolve()),
        "files": len(files),
        "png_scale": png_scale,
        "command": command,
    }
    writer = DepthDatasetWriter(out, provenance)
    for path in files:
        depth = read_depth_file(path, png_scale)
        if writer.size is not None and depth.shape != writer.size:
            raise DepthbenchError(f"{path}: frame size {depth.shape} differs from the first file's {writer.size}")
        writer.add(depth[None])
    return writer.close()
