"""Ablation matrix: encoders x training noise x seeds, each evaluated under several evaluation noises.

Bookkeeping lives in the output directory: `ablation_spec.json` fixes the matrix, each cell is an ordinary training run
directory (its manifest says whether it finished) with one metrics file per evaluation noise. A finished cell or an
existing metrics file is never recomputed; a killed matrix is continued by running the same command again (an
unfinished training run resumes from its last checkpoint).

A cell is worked on only under its lock (`cells/<cell>/.lock`, an flock via the filelock library; the kernel drops it
when the holder dies), so two drivers, local or Ray (`depthbench.agents.ray_launcher`), never run the same cell at once:
the second one sees the cell busy and comes back to it later. `claim.json` names the holder while it works and
`attempts.jsonl` logs every training start (host, pid, iteration it resumed from) for the post-mortem.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from depthbench.agents import stats
from depthbench.agents.config import SCRATCH_ENCODER, resolve_config
from depthbench.agents.evaluation import evaluate_checkpoint, summarize_episodes, write_metrics
from depthbench.agents.training import MANIFEST, PROGRESS, train, write_json_atomic
from depthbench.errors import DepthbenchError

CLEAN = "clean"
SPEC_FILE = "ablation_spec.json"
RESULTS_FILE = "ablation.json"
LOCK_FILE = ".lock"
CLAIM_FILE = "claim.json"
ATTEMPTS_FILE = "attempts.jsonl"
LAUNCHERS = ("local", "ray")
BUSY_POLL_S = 30.0  # how often a driver looks again at a cell another driver holds

Cell = tuple[str, str, int]  # (encoder, train noise, seed)


def slug(text: str) -> str:
    """Filesystem-safe name of a noise spec or encoder ('speckle(p=0.02)' -> 'speckle-p-0.02')."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "none"


def cell_dir(out: Path, encoder: str, train_noise: str, seed: int) -> Path:
    return out / "cells" / f"{slug(encoder)}__train-{slug(train_noise)}__s{seed}"


def eval_path(run_dir: Path, eval_noise: str) -> Path:
    return run_dir / "eval" / f"{slug(eval_noise)}.json"


def read_json(path: Path) -> dict[str, Any] | None:
    """The file's JSON, or None if it does not exist (yet)."""
    return json.loads(path.read_text()) if path.is_file() else None


def prepare_ablation(
    task: str,
    *,
    encoders: list[str],
    train_noises: list[str],
    eval_noises: list[str],
    seeds: int,
    out: Path,
    preset: str | None = None,
    weights: str | None = None,
    overrides: list[str] | None = None,
    episodes: int | None = None,
    engine: str | None = None,
) -> dict[str, Any]:
    """Canonical matrix spec, checked against (or written to) `out/ablation_spec.json`, with every cell's config
    resolved once so that a bad flag fails here, in one line, before any cell starts."""
    from depthbench.noise import build_noise

    if seeds < 1:
        raise DepthbenchError(f"--seeds must be >= 1, got {seeds}")
    if not encoders:
        raise DepthbenchError("--encoders is empty; name at least one encoder (see `depthbench list`)")
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
    for encoder in encoders:  # the seed changes no other key: one config per (encoder, train noise) is checked
        for train_noise in train_noises:
            cell_config(spec, (encoder, train_noise, 0))
    spec_path = out / SPEC_FILE
    saved = read_json(spec_path)
    if saved is not None and saved != spec:
        raise DepthbenchError(f"{out} holds a different ablation ({spec_path}); use another --out or the same flags")
    write_json_atomic(spec_path, spec)
    return spec


def cells(spec: dict[str, Any]) -> list[Cell]:
    return [(e, n, s) for e in spec["encoders"] for n in spec["train_noises"] for s in spec["seeds"]]


def cell_config(spec: dict[str, Any], cell: Cell) -> dict[str, Any]:
    encoder, train_noise, seed = cell
    flags: dict[str, Any] = {"encoder.name": encoder, "train_noise": train_noise, "seed": seed}
    if spec.get("engine") is not None:
        flags["engine"] = spec["engine"]
    if spec["weights"] is not None and encoder != SCRATCH_ENCODER:  # scratch-cnn has no pretrained weights
        flags["encoder.weights"] = spec["weights"]
    return resolve_config(spec["task"], preset=spec["preset"], flags=flags, overrides=spec["overrides"])


def cell_is_complete(out: Path, spec: dict[str, Any], cell: Cell) -> bool:
    """Trained to the end and evaluated under every evaluation noise: nothing left to do."""
    run_dir = cell_dir(out, *cell)
    manifest = read_json(run_dir / MANIFEST)
    return (
        manifest is not None
        and manifest["status"] == "finished"
        and all(eval_path(run_dir, n).is_file() for n in spec["eval_noises"])
    )


def cell_iteration(run_dir: Path) -> int:
    """Training iterations done so far (rows in progress.jsonl, appended every iteration), for progress displays."""
    path = run_dir / PROGRESS
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.is_file() else 0


def run_cell(
    out: Path, spec: dict[str, Any], cell: Cell, *, show_progress: bool = False, log: Callable[[str], Any] = print
) -> dict[str, Any]:
    """Train (or resume) one cell, then evaluate it under each missing evaluation noise, all under the cell's lock.

    Returns {"status": "done", "trained": bool} or, without touching anything, {"status": "busy", "holder": claim}
    when another process holds the cell."""
    run_dir = cell_dir(out, *cell)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / LOCK_FILE, blocking=False)
    try:
        lock.acquire()
    except Timeout:
        return {"status": "busy", "holder": read_json(run_dir / CLAIM_FILE)}
    try:
        claim = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
        write_json_atomic(run_dir / CLAIM_FILE, claim)
        manifest = read_json(run_dir / MANIFEST)
        status = manifest["status"] if manifest else None
        trained = status != "finished"
        if trained:
            log(f"cell {run_dir.name}: {'resuming' if status else 'training'}")
            attempt = {**claim, "from_iteration": manifest["iterations_done"] if manifest else 0}
            with (run_dir / ATTEMPTS_FILE).open("a") as f:
                f.write(json.dumps(attempt, sort_keys=True) + "\n")
            train(
                cell_config(spec, cell),
                run_dir,
                resume=status is not None,
                command="ablate",
                show_progress=show_progress,
            )
        else:
            log(f"cell {run_dir.name}: finished, skipped")
        checkpoint = json.loads((run_dir / MANIFEST).read_text())["checkpoint"]
        for eval_noise in spec["eval_noises"]:
            path = eval_path(run_dir, eval_noise)
            if path.is_file():
                continue
            result = evaluate_checkpoint(
                checkpoint, eval_noise=eval_noise, episodes=spec["episodes"], seed=cell[2], show_progress=show_progress
            )
            write_metrics(result, path)
        return {"status": "done", "trained": trained}
    finally:
        (run_dir / CLAIM_FILE).unlink(missing_ok=True)
        lock.release()


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
    launcher: str = "local",
    ray_options: dict[str, Any] | None = None,
    busy_poll_s: float = BUSY_POLL_S,
    engine: str | None = None,
) -> dict[str, Any]:
    """Run (or continue) the matrix and write ablation.json; returns its content.

    launcher "local" runs the cells one after the other in this process; "ray" runs each cell as a Ray task
    (`ray_options`: address, gpus_per_cell, cpus_per_cell, max_retries; see depthbench.agents.ray_launcher)."""
    if launcher not in LAUNCHERS:
        raise DepthbenchError(f"--launcher must be one of {', '.join(LAUNCHERS)}, got '{launcher}'")
    given = sorted(k for k, v in (ray_options or {}).items() if v is not None)
    if launcher == "local" and given:
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in given)
        raise DepthbenchError(f"{flags} only apply to --launcher ray")
    if launcher == "ray":
        from depthbench.agents import ray_launcher

        options = ray_launcher.check_options(ray_options or {})  # bad flags fail before the spec is written
    out = Path(out).resolve()  # Ray workers on other nodes see the same absolute (shared) path
    spec = prepare_ablation(
        task,
        encoders=encoders,
        train_noises=train_noises,
        eval_noises=eval_noises,
        seeds=seeds,
        out=out,
        preset=preset,
        weights=weights,
        overrides=overrides,
        episodes=episodes,
        engine=engine,
    )
    if launcher == "ray":
        ray_launcher.run_cells(out, spec, options, show_progress=show_progress, log=log, busy_poll_s=busy_poll_s)
    else:
        pending = cells(spec)
        while pending:  # cells held by another driver are visited again until it has finished them
            busy = []
            for cell in pending:
                result = run_cell(out, spec, cell, show_progress=show_progress, log=log)
                if result["status"] == "busy":
                    holder = result["holder"] or {}
                    log(f"cell {cell_dir(out, *cell).name}: held by {holder.get('host')}:{holder.get('pid')}, later")
                    busy.append(cell)
            if busy:
                time.sleep(busy_poll_s)
            pending = busy
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
