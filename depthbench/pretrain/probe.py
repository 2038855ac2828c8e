"""`depthbench probe`: linear probes of frozen encoders, fitted on probe-train frames, scored on held-out frames.

Targets need the layout of the view, not its mean depth:
- `sectors`: the nearest return (log1p metres, clipped to `max_range_m`; a sector without returns counts as max
  range) in each cell of a rows x cols grid of image sectors; ridge regression, scored by R^2 against the constant
  predictor at the probe-train mean.
- `free-direction`: which of `cols` image columns has the largest mean depth (the heading with the most free
  space); a least-squares linear classifier (ridge on one-hot labels, argmax), scored by accuracy.

Features: the frozen backbone's global embedding concatenated with its finest dense map average-pooled to
`pool` x `pool`. Standardization and the ridge fit see probe-train frames only; the ridge strength is chosen by K-fold
cross-validation on the probe-train frames with whole trajectories as folds (consecutive frames of one env are
correlated, so frame-level folds would reward under-regularization). The score is computed once on the held-out
frames, with a 95% cluster-bootstrap interval over held-out trajectories, and paired differences between encoders
from the same resampled trajectories.

Ridge and the bootstraps are closed form here (an eigendecomposition of X^T X per fold gives the whole ridge grid):
depthbench does not depend on scikit-learn, and this is all of it the probe needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from depthbench.errors import DepthbenchError

RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
TARGETS = ("sectors", "free-direction")


def _clipped(depth_m: np.ndarray, max_range_m: float) -> np.ndarray:
    """(N,1,H,W) metres -> (N,H,W), invalid returns (0, NaN, inf) and far ones at max range."""
    depth = np.where((depth_m > 0) & np.isfinite(depth_m), np.minimum(depth_m, max_range_m), max_range_m)
    return depth[:, 0]


def sector_targets(depth_m: np.ndarray, rows: int = 2, cols: int = 8, max_range_m: float = 10.0) -> np.ndarray:
    """(N,1,H,W) metres -> (N, rows*cols) log1p of the nearest return per sector, row-major (top row first)."""
    depth = _clipped(depth_m, max_range_m)
    out = [
        cell.min(axis=(1, 2))
        for band in np.array_split(depth, rows, axis=1)
        for cell in np.array_split(band, cols, axis=2)
    ]
    return np.log1p(np.stack(out, axis=1))


def free_direction(depth_m: np.ndarray, cols: int = 8, max_range_m: float = 10.0) -> np.ndarray:
    """(N,1,H,W) metres -> (N,) index of the column band with the largest mean clipped depth (first one on ties)."""
    depth = _clipped(depth_m, max_range_m)
    means = np.stack([band.mean(axis=(1, 2)) for band in np.array_split(depth, cols, axis=2)], axis=1)
    return means.argmax(axis=1)


def stream_groups(manifest: dict[str, Any], count: int) -> np.ndarray:
    """Trajectory id of the first `count` frames of a dataset: collected frames are written step by step,
    `frames_per_step` per step in env order, so frame i is env stream i % frames_per_step; imported frames are
    independent files, one group each."""
    provenance = manifest["provenance"]
    if provenance.get("source") == "folder":
        return np.arange(count)
    if "frames_per_step" not in provenance:
        raise DepthbenchError(
            "this dataset's manifest has no provenance.frames_per_step (collected before it was recorded): collect "
            "it again with `depthbench data collect` so the probe can resample whole trajectories"
        )
    return np.arange(count) % int(provenance["frames_per_step"])


@torch.no_grad()
def probe_features(encoder: Any, depth_m: np.ndarray, pool: int = 4, batch_size: int = 128) -> np.ndarray:
    """Frozen backbone features: global embedding + finest dense map average-pooled to pool x pool."""
    backbone = encoder.backbone.eval()
    rows = []
    for start in range(0, len(depth_m), batch_size):
        x = backbone.preprocess(torch.from_numpy(np.ascontiguousarray(depth_m[start : start + batch_size])).float())
        global_embedding, dense = backbone(x)
        pooled = F.adaptive_avg_pool2d(dense[0], pool).flatten(1)
        rows.append(torch.cat([global_embedding, pooled], dim=1).double().numpy())
    return np.concatenate(rows)


def pixel_features(depth_m: np.ndarray, size: int = 16, max_range_m: float = 10.0) -> np.ndarray:
    """The trivial baseline: log1p of the clipped depth average-pooled to size x size, one feature per cell."""
    depth = torch.from_numpy(np.log1p(_clipped(depth_m, max_range_m))[:, None]).double()
    return F.adaptive_avg_pool2d(depth, size).flatten(1).numpy()


def ridge_predictions(
    train_x: np.ndarray, train_y: np.ndarray, eval_x: np.ndarray, ridges: tuple[float, ...]
) -> list[np.ndarray]:
    """Predictions on eval_x of ridge fits on standardized train_x for every strength in `ridges` (penalty
    ridge * n_train, so strengths do not depend on the number of frames), from one eigendecomposition."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-8
    z, z_eval = (train_x - mean) / std, (eval_x - mean) / std
    y_mean = train_y.mean(0)
    centred = train_y - y_mean
    if z.shape[0] < z.shape[1]:  # fewer frames than features: the n x n kernel form, same solution
        eigenvalues, vectors = np.linalg.eigh(z @ z.T)
        projected_y, projected_eval = vectors.T @ centred, z_eval @ (z.T @ vectors)
    else:
        eigenvalues, vectors = np.linalg.eigh(z.T @ z)
        projected_y, projected_eval = vectors.T @ (z.T @ centred), z_eval @ vectors
    return [projected_eval @ (projected_y / (eigenvalues + r * len(z))[:, None]) + y_mean for r in ridges]


def _one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[labels]


def _fold_score(kind: str, y: np.ndarray, prediction: np.ndarray, y_train_mean: np.ndarray) -> tuple[float, float]:
    """(numerator, denominator) sums: R^2 = 1 - num/den, accuracy = num/den."""
    if kind == "r2":
        return float(((y - prediction) ** 2).sum()), float(((y - y_train_mean) ** 2).sum())
    return float((prediction.argmax(1) == y.argmax(1)).sum()), float(len(y))


def per_frame(kind: str, y: np.ndarray, prediction: np.ndarray, y_train_mean: np.ndarray) -> np.ndarray:
    """(2, N): each frame's numerator and denominator of the score (squared errors of the probe and of the constant
    probe-train-mean predictor for R^2; correct and 1 for accuracy)."""
    if kind == "r2":
        return np.stack([((y - prediction) ** 2).sum(1), ((y - y_train_mean) ** 2).sum(1)])
    return np.stack([(prediction.argmax(1) == y.argmax(1)).astype(float), np.ones(len(y))])


def score(kind: str, parts: np.ndarray) -> float:
    ratio = parts[0].sum() / parts[1].sum()
    return float(1 - ratio if kind == "r2" else ratio)


def linear_probes(
    train_x: np.ndarray,
    train_groups: np.ndarray,
    test_x: np.ndarray,
    targets: dict[str, tuple[str, np.ndarray, np.ndarray]],
    *,
    folds: int = 3,
    ridges: tuple[float, ...] = RIDGE_GRID,
) -> dict[str, dict[str, Any]]:
    """Probe every target {name: (kind, train_y, test_y)} on the same features: per target, the ridge strength with
    the best grouped K-fold CV score on the training frames (pooled over folds), refit on all of them, scored once
    on the test frames. kind 'r2': y (N, T) values; 'accuracy': y (N,) integer labels. The targets share each
    fold's eigendecomposition (the expensive part)."""
    groups = np.unique(train_groups)
    if len(train_x) < 10 or len(test_x) < 2 or len(groups) < folds:
        raise DepthbenchError(
            f"a probe needs >= 10 training frames in >= {folds} trajectories and >= 2 test frames "
            f"(got {len(train_x)} frames in {len(groups)} trajectories, {len(test_x)} test frames)"
        )
    columns, train_cols, test_cols, start = {}, [], [], 0
    for name, (kind, train_y, test_y) in targets.items():
        if kind not in ("r2", "accuracy"):
            raise DepthbenchError(f"probe kind must be r2 or accuracy, got {kind!r} for {name}")
        if kind == "accuracy":
            classes = int(max(train_y.max(), test_y.max())) + 1
            train_y, test_y = _one_hot(train_y, classes), _one_hot(test_y, classes)
        train_cols.append(train_y.reshape(len(train_y), -1))
        test_cols.append(test_y.reshape(len(test_y), -1))
        columns[name] = slice(start, start + train_cols[-1].shape[1])
        start += train_cols[-1].shape[1]
    train_y, test_y = np.concatenate(train_cols, 1), np.concatenate(test_cols, 1)
    sums = {name: np.zeros((len(ridges), 2)) for name in targets}
    for fold in np.array_split(groups, folds):
        held = np.isin(train_groups, fold)
        predictions = ridge_predictions(train_x[~held], train_y[~held], train_x[held], ridges)
        y_mean = train_y[~held].mean(0)
        for name, cols in columns.items():
            kind = targets[name][0]
            sums[name] += [_fold_score(kind, train_y[held][:, cols], p[:, cols], y_mean[cols]) for p in predictions]
    results = {}
    for name, cols in columns.items():
        kind = targets[name][0]
        cv = 1 - sums[name][:, 0] / sums[name][:, 1] if kind == "r2" else sums[name][:, 0] / sums[name][:, 1]
        best = int(np.argmax(cv))
        (prediction,) = ridge_predictions(train_x, train_y[:, cols], test_x, (ridges[best],))
        parts = per_frame(kind, test_y[:, cols], prediction, train_y[:, cols].mean(0))
        results[name] = {
            "kind": kind,
            "score": score(kind, parts),
            "ridge": ridges[best],
            "cv_scores": dict(zip(map(str, ridges), map(float, cv), strict=True)),
            "parts": parts,
        }
    return results


def cluster_bootstrap(
    parts: list[np.ndarray], kinds: list[str], groups: np.ndarray, *, seed: int = 0, resamples: int = 2000
) -> np.ndarray:
    """(len(parts), resamples) scores of every probe on the same resampled test trajectories (clusters drawn with
    replacement, all frames of a drawn cluster kept), so intervals of differences are paired."""
    ids, inverse = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids)) for _ in range(resamples)])
    out = []
    for p, kind in zip(parts, kinds, strict=True):
        cluster_sums = np.stack([np.bincount(inverse, weights=p[k], minlength=len(ids)) for k in range(2)])
        ratio = (counts @ cluster_sums[0]) / (counts @ cluster_sums[1])
        out.append(1 - ratio if kind == "r2" else ratio)
    return np.stack(out)


def interval(samples: np.ndarray) -> tuple[float, float]:
    """95% percentile interval."""
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)
