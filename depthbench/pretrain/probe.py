"""`depthbench probe`: linear probes of frozen encoders on held-out depth frames.

Target: the distance to the nearest return in each of `sectors` vertical image sectors (log metres, clipped to
`max_range_m`; a sector without returns counts as max range), the quantity a navigation policy needs from its depth
encoder. Features: the frozen backbone's global embedding concatenated with its finest dense map average-pooled to
2x2 (the global token alone carries little layout). Ridge regression in closed form on standardized features, the
ridge strength chosen on a validation part of the training frames; the score is R^2 on test frames, with a bootstrap
95% interval over test frames, and a paired bootstrap for the difference between two encoders on the same frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from depthbench.errors import DepthbenchError

RIDGE_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


def sector_targets(depth_m: np.ndarray, sectors: int = 4, max_range_m: float = 10.0) -> np.ndarray:
    """(N,1,H,W) metres -> (N, sectors): log1p of the nearest valid return per vertical sector."""
    depth = np.where((depth_m > 0) & np.isfinite(depth_m), np.minimum(depth_m, max_range_m), max_range_m)
    bands = np.array_split(depth[:, 0], sectors, axis=2)
    return np.log1p(np.stack([band.min(axis=(1, 2)) for band in bands], axis=1))


@torch.no_grad()
def probe_features(encoder: Any, depth_m: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Frozen backbone features: global embedding + finest dense map pooled to 2x2."""
    backbone = encoder.backbone.eval()
    rows = []
    for start in range(0, len(depth_m), batch_size):
        x = backbone.preprocess(torch.from_numpy(depth_m[start : start + batch_size]))
        global_embedding, dense = backbone(x)
        pooled = F.adaptive_avg_pool2d(dense[0], 2).flatten(1)
        rows.append(torch.cat([global_embedding, pooled], dim=1).double().numpy())
    return np.concatenate(rows)


def ridge_fit(x: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form ridge on standardized x: returns (mean, std, weights, bias)."""
    mean, std = x.mean(0), x.std(0) + 1e-8
    z = (x - mean) / std
    y_mean = y.mean(0)
    weights = np.linalg.solve(z.T @ z + ridge * len(z) * np.eye(z.shape[1]), z.T @ (y - y_mean))
    return mean, std, weights, y_mean


def ridge_predict(model: tuple[np.ndarray, ...], x: np.ndarray) -> np.ndarray:
    mean, std, weights, bias = model
    return (x - mean) / std @ weights + bias


def r2_per_frame(y: np.ndarray, prediction: np.ndarray, y_train_mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame squared errors of the probe and of the constant (training-mean) predictor; R^2 = 1 - sum/sum."""
    return ((y - prediction) ** 2).sum(1), ((y - y_train_mean) ** 2).sum(1)


def linear_probe(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """Choose the ridge strength on the last 20% of the training frames, refit on all, score on test."""
    if len(train_x) < 10 or len(test_x) < 2:
        raise DepthbenchError(f"a probe needs >= 10 training and >= 2 test frames (got {len(train_x)}, {len(test_x)})")
    cut = int(0.8 * len(train_x))
    scores = {}
    for ridge in RIDGE_GRID:
        model = ridge_fit(train_x[:cut], train_y[:cut], ridge)
        errors, baseline = r2_per_frame(train_y[cut:], ridge_predict(model, train_x[cut:]), model[3])
        scores[ridge] = 1 - errors.sum() / baseline.sum()
    best = max(scores, key=scores.get)
    model = ridge_fit(train_x, train_y, best)
    errors, baseline = r2_per_frame(test_y, ridge_predict(model, test_x), model[3])
    return {"r2": float(1 - errors.sum() / baseline.sum()), "ridge": best, "errors": errors, "baseline": baseline}


def bootstrap_r2(errors: np.ndarray, baseline: np.ndarray, seed: int = 0, resamples: int = 2000) -> tuple[float, float]:
    """95% percentile bootstrap interval of R^2 over test frames."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(errors), size=(resamples, len(errors)))
    r2 = 1 - errors[idx].sum(1) / baseline[idx].sum(1)
    low, high = np.percentile(r2, [2.5, 97.5])
    return float(low), float(high)


def paired_difference(a: dict[str, Any], b: dict[str, Any], seed: int = 0, resamples: int = 2000) -> dict[str, float]:
    """R^2(a) - R^2(b) on the same test frames, with a paired bootstrap 95% interval (the same resampled frames)."""
    rng = np.random.default_rng(seed)
    n = len(a["errors"])
    idx = rng.integers(0, n, size=(resamples, n))
    r2a = 1 - a["errors"][idx].sum(1) / a["baseline"][idx].sum(1)
    r2b = 1 - b["errors"][idx].sum(1) / b["baseline"][idx].sum(1)
    low, high = np.percentile(r2a - r2b, [2.5, 97.5])
    return {"difference": a["r2"] - b["r2"], "low": float(low), "high": float(high)}
