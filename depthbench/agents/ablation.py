"""Ablation matrix: encoders x training noise x seeds, each evaluated under several evaluation noises.

Bookkeeping lives in the output directory: `ablation_spec.json` fixes the matrix, each cell is an ordinary training run
directory (its manifest says whether it finished) with one metrics file per evaluation noise. A finished cell or an
existing metrics file is never recomputed; a killed matrix is continued by running the same command again (an
unfinished training run resumes from its last checkpoint).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from depthbench.agents import stats
from depthbench.agents.config import SCRATCH_ENCODER, resolve_config
from depthbench.agents.evaluation import evaluate_checkpoint, summarize_episodes, write_metrics
from depthbench.agents.training import MANIFEST, train, write_json_atomic
from depthbench.errors import DepthbenchError

CLEAN = "clean"
SPEC_FILE = "ablation_spec.json"
RESULTS_FILE = "ablation.json"


def slug(text: str) -> str:
    """Filesystem-safe name of a noise spec or encoder ('speckle(p=0.02)' -> 'speckle-p-0.02')."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "none"


def cell_dir(out: Path, encoder: str, train_noise: str, seed: int) -> Path:
    return out / "cells" / f"{slug(encoder)}__train-{slug(train_noise)}__s{seed}"


def eval_path(run_dir: Path, eval_noise: str) -> Path:
    return run_dir / "eval" / f"{slug(eval_noise)}.json"


def run_ablation(
    task: str,
    *,
    encoders: list[str],
    train_noises: list[str],
    eval_noises: list[str],
    seeds: int,
    out: str | Path,
    preset: str | None = None,
    weights: str | None = None,
    overrides: list[str] | None = None,
    episodes: int | None = None,
    show_progress: bool = True,
    log: Any = print,
    engine: str | None = None,
) -> dict[str, Any]:
    """Run (or continue) the matrix and write ablation.json; returns its content."""
    from depthbench.noise import build_noise

    out = Path(out)
    if seeds < 1:
        raise DepthbenchError(f"--seeds must be >= 1, got {seeds}")
    if engine is not None:
        from depthbench.envs import get_task

        get_task(task).factory_for(engine)  # an unknown or unavailable engine fails before anything is written
    train_noises = [build_noise(s).spec for s in train_noises]  # canonical specs: one cell per distinct model
    eval_noises = [build_noise(s).spec for s in eval_noises]
    if CLEAN not in eval_noises:
        eval_noises = [CLEAN, *eval_noises]  # the robustness drop is relative to clean evaluation
    spec = {
        "task": task,
        "encoders": encoders,
        "train_noises": train_noises,
        "eval_noises": eval_noises,
        "seeds": list(range(seeds)),
        "preset": preset,
        "weights": weights,
        "overrides": list(overrides or []),
        "episodes": episodes,
    }
    if engine is not None:  # recorded only when asked for, so earlier default-engine ablations still resume
        spec["engine"] = engine
    spec_path = out / SPEC_FILE
    if spec_path.is_file():
        saved = json.loads(spec_path.read_text())
        if saved != spec:
            raise DepthbenchError(
                f"{out} holds a different ablation ({spec_path}); use another --out or the same flags"
            )
    write_json_atomic(spec_path, spec)

    for encoder in encoders:
        for train_noise in train_noises:
            for seed in spec["seeds"]:
                run_dir = cell_dir(out, encoder, train_noise, seed)
                manifest_path = run_dir / MANIFEST
                status = json.loads(manifest_path.read_text())["status"] if manifest_path.is_file() else None
                if status != "finished":
                    flags = {"encoder.name": encoder, "train_noise": train_noise, "seed": seed, "engine": engine}
                    if weights is not None and encoder != SCRATCH_ENCODER:  # scratch-cnn has no pretrained weights
                        flags["encoder.weights"] = weights
                    cfg = resolve_config(task, preset=preset, flags=flags, overrides=overrides)
                    log(f"cell {run_dir.name}: {'resuming' if status else 'training'}")
                    train(cfg, run_dir, resume=status is not None, command="ablate", show_progress=show_progress)
                else:
                    log(f"cell {run_dir.name}: finished, skipped")
                checkpoint = json.loads(manifest_path.read_text())["checkpoint"]
                for eval_noise in eval_noises:
                    path = eval_path(run_dir, eval_noise)
                    if path.is_file():
                        continue
                    result = evaluate_checkpoint(
                        checkpoint, eval_noise=eval_noise, episodes=episodes, seed=seed, show_progress=show_progress
                    )
                    write_metrics(result, path)
    results = summarize_ablation(out)
    write_json_atomic(out / RESULTS_FILE, results)
    return results


def _load_records(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    metrics = json.loads(path.read_text())
    records = json.loads((path.parent / metrics["episode_records_file"]).read_text())
    return metrics, records


def summarize_ablation(out: str | Path) -> dict[str, Any]:
    """Per (encoder, train noise, eval noise): SR over all episodes of all seeds (Wilson), the t-interval over seed
    means, other metrics (bootstrap), and the robustness drop (SR_clean - SR_noisy) / SR_clean (DeFM paper)."""
    out = Path(out)
    spec = json.loads((out / SPEC_FILE).read_text())
    rows = []
    for encoder in spec["encoders"]:
        for train_noise in spec["train_noises"]:
            pooled: dict[str, list[dict[str, Any]]] = {}
            per_seed: dict[str, list[float]] = {}
            label, provenance = encoder, None
            for seed in spec["seeds"]:
                for eval_noise in spec["eval_noises"]:
                    path = eval_path(cell_dir(out, encoder, train_noise, seed), eval_noise)
                    if not path.is_file():
                        continue
                    metrics, records = _load_records(path)
                    label, provenance = metrics["encoder"]["label"], metrics["encoder"]["weights_provenance"]
                    pooled.setdefault(eval_noise, []).extend(records)
                    per_seed.setdefault(eval_noise, []).append(metrics["metrics"]["success_rate"]["mean"])
            clean = [float(r["success"]) for r in pooled.get(CLEAN, [])]
            for eval_noise, records in pooled.items():
                successes = [float(r["success"]) for r in records]
                row: dict[str, Any] = {
                    "encoder": encoder,
                    "encoder_label": label,
                    "weights_provenance": provenance,
                    "train_noise": train_noise,
                    "eval_noise": eval_noise,
                    "seeds": len(per_seed[eval_noise]),
                    "episodes": len(records),
                    "metrics": summarize_episodes(records),
                    "seed_success_rate": {
                        "mean": sum(per_seed[eval_noise]) / len(per_seed[eval_noise]),
                        "ci95": list(stats.t_interval(per_seed[eval_noise])),
                        "n": len(per_seed[eval_noise]),
                        "method": "t",
                    },
                }
                if eval_noise != CLEAN and clean:
                    row["robustness_drop"] = robustness_drop(clean, successes)
                rows.append(row)
    return {"schema": "depthbench.ablation/1", "spec": spec, "rows": rows}


def robustness_drop(clean: list[float], noisy: list[float], *, seed: int = 0) -> dict[str, Any]:
    """(SR_clean - SR_noisy) / SR_clean = 1 - SR_noisy / SR_clean, with a bootstrap 95% CI; NaN if SR_clean = 0."""
    sr_clean = sum(clean) / len(clean)
    sr_noisy = sum(noisy) / len(noisy)
    if sr_clean == 0:
        return {
            "mean": float("nan"),
            "ci95": [float("nan"), float("nan")],
            "n": len(noisy),
            "method": "bootstrap-ratio",
        }
    lo, hi = stats.ratio_interval(noisy, clean, seed=seed)
    return {
        "mean": (sr_clean - sr_noisy) / sr_clean,
        "ci95": [1 - hi, 1 - lo],
        "n": len(noisy),
        "method": "bootstrap-ratio",
    }
