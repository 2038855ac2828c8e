"""`depthbench report RUNS_DIR`: markdown + CSV tables and PNG plots from run directories, metrics files, ablations.

Everything is read back from files (manifest.json, progress.jsonl, metrics JSON, ablation.json), so a report can be
rebuilt at any time without rerunning anything. Encoders appear under their label, so random-init DeFM shows as
"defm-... (RANDOM INIT)" in every table and plot.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any

from depthbench.errors import DepthbenchError
from depthbench.files import write_text_atomic

MAIN_METRICS = ("success_rate", "spl", "soft_spl", "collisions")


def _fmt(estimate: dict[str, Any] | None) -> str:
    if not estimate or estimate.get("mean") is None or math.isnan(estimate["mean"]):
        return "n/a"
    lo, hi = estimate["ci95"]
    return f"{estimate['mean']:.3f} [{lo:.3f}, {hi:.3f}]"


def collect(runs_dir: Path) -> dict[str, list[tuple[Path, dict[str, Any]]]]:
    found: dict[str, list[tuple[Path, dict[str, Any]]]] = {"runs": [], "metrics": [], "ablations": []}
    for path in sorted(runs_dir.rglob("*.json")):
        if path.name.startswith(".") or path.name.endswith(".episodes.json"):
            continue
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        schema = data.get("schema") if isinstance(data, dict) else None
        if schema == "depthbench.run/1":
            found["runs"].append((path.parent, data))
        elif schema == "depthbench.metrics/1":
            found["metrics"].append((path, data))
        elif schema == "depthbench.ablation/1":
            found["ablations"].append((path, data))
    return found


def actions(metrics: dict[str, Any]) -> str:
    """How the evaluated policy chose actions (a distilled student's teacher acted the same way)."""
    return {True: "greedy", False: "sampled"}.get(metrics.get("deterministic"), "unknown")


def results_rows(metrics: list[tuple[Path, dict[str, Any]]], root: Path) -> list[dict[str, Any]]:
    rows = []
    for path, data in metrics:
        row = {
            "file": str(path.relative_to(root)),
            "task": data["task"],
            "kind": data["kind"],
            "encoder": data["encoder"]["label"],
            "weights_provenance": data["encoder"]["weights_provenance"],
            "train_noise": data["train_noise"],
            "eval_noise": data["eval_noise"],
            "split": data["split"],
            "train_seed": data["train_seed"],
            "iterations": data["iterations"],
            "actions": actions(data),
            "episodes": data["episodes"],
        }
        for name in MAIN_METRICS:
            estimate = data["metrics"].get(name)
            row[name] = estimate["mean"] if estimate else ""
            row[f"{name}_ci95"] = f"{estimate['ci95'][0]:.4f}..{estimate['ci95'][1]:.4f}" if estimate else ""
        norm = data.get("normalized_to_teacher")
        row["normalized_to_teacher"] = norm["mean"] if norm else ""
        rows.append(row)
    return rows


def group_rows(metrics: list[tuple[Path, dict[str, Any]]], root: Path) -> list[dict[str, Any]]:
    """One row per group of every evaluation that has `eval.group_by` breakdowns."""
    rows = []
    for path, data in metrics:
        for group in data["groups"]:
            rows.append(
                {
                    "file": str(path.relative_to(root)),
                    "encoder": data["encoder"]["label"],
                    "eval_noise": data["eval_noise"],
                    "group": ", ".join(f"{k}={v}" for k, v in group["key"].items()),
                    "episodes": group["episodes"],
                    "SR [95% CI]": _fmt(group["metrics"].get("success_rate")),
                }
            )
    return rows


# run settings that are not part of a recipe: what differs between its seeds, or where and how it was evaluated
NOT_RECIPE = ("seed", "iterations", "eval", "device", "save_interval", "engine")


def recipe(data: dict[str, Any]) -> str:
    """8 hex digits naming the training recipe: the run's config without the keys in NOT_RECIPE, unset values (None,
    empty) dropped, so configs written before a key existed match those with it unset. '' when the JSON has no config.
    Two teachers trained with other rewards or observations are two recipes, not two seeds of one."""
    if "config" not in data:
        return ""

    def flat(node: Any, prefix: str = "") -> dict[str, Any]:
        if not isinstance(node, dict):
            return {} if node in (None, [], "") else {prefix: node}
        return {k: v for key, value in node.items() for k, v in flat(value, f"{prefix}{key}.").items()}

    kept = {k: v for k, v in data["config"].items() if k not in NOT_RECIPE}
    if "weights_average" in data:  # the mean of a run's iterates is a recipe of its own, not one more seed
        kept["weights_average"] = data["weights_average"]["iterations"]
    text = json.dumps(flat(kept), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def evaluation_key(data: dict[str, Any]) -> tuple:
    """What makes two evaluations the same condition of the same policy recipe, up to the training seed."""
    return (
        data["task"],
        data["kind"],
        data["encoder"]["label"],
        data["train_noise"],
        data["eval_noise"],
        data["split"],
        data["iterations"],
        actions(data),
        recipe(data),
    )


def pool_by_seed(
    metrics: list[tuple[Path, dict[str, Any]]], *, require_records: bool = False
) -> dict[tuple, dict[int, tuple[Path, dict[str, Any], list[dict[str, Any]]]]]:
    """Evaluations grouped by `evaluation_key`, one per training seed (the one with the most episodes), with their
    per-episode records. Evaluations without a records file are skipped, or an error with `require_records`."""
    pooled: dict[tuple, dict[int, tuple[Path, dict[str, Any], list[dict[str, Any]]]]] = {}
    for path, data in metrics:
        records_file = path.parent / data.get("episode_records_file", "")
        if not records_file.is_file():
            if require_records:
                raise DepthbenchError(f"{path} has no episode records beside it; re-run its evaluation")
            continue
        records = json.loads(records_file.read_text())
        by_seed = pooled.setdefault(evaluation_key(data), {})
        seed = data["train_seed"]
        if seed not in by_seed or len(records) > len(by_seed[seed][2]):
            by_seed[seed] = (path, data, records)
    return pooled


def seed_rows(metrics: list[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Evaluations that differ only in the training seed, pooled: SR over all their episodes (Wilson) and the
    t-interval over per-seed SRs, the "over episodes and seeds" view of independent training runs."""
    from depthbench.agents import stats

    rows = []
    for key, by_seed in sorted(pool_by_seed(metrics).items()):
        runs = [(seed, [float(r["success"]) for r in by_seed[seed][2]]) for seed in sorted(by_seed)]
        seeds = [seed for seed, _ in runs]
        if len(seeds) < 2:
            continue
        everything = [s for _, successes in runs for s in successes]
        per_seed = [sum(successes) / len(successes) for _, successes in runs]
        lo, hi = stats.wilson_interval(sum(everything), len(everything))
        seed_lo, seed_hi = stats.t_interval(per_seed)
        rows.append(
            {
                "task": key[0],
                "kind": key[1],
                "encoder": key[2],
                "train_noise": key[3],
                "eval_noise": key[4],
                "split": key[5],
                "iterations": key[6],
                "actions": key[7],
                "seeds": len(seeds),
                "episodes": len(everything),
                "success_rate": sum(everything) / len(everything),
                "success_rate_ci95": f"{lo:.4f}..{hi:.4f}",
                "seed_sr_ci95": f"{seed_lo:.4f}..{seed_hi:.4f}",
            }
        )
    return rows


def ablation_rows(ablation: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for r in ablation["rows"]:
        sr = r["metrics"]["success_rate"]
        drop = r.get("robustness_drop")
        rows.append(
            {
                "task": ablation["spec"]["task"],
                "encoder": r["encoder_label"],
                "weights_provenance": r["weights_provenance"],
                "train_noise": r["train_noise"],
                "eval_noise": r["eval_noise"],
                "seeds": r["seeds"],
                "episodes": r["episodes"],
                "success_rate": sr["mean"],
                "success_rate_ci95": f"{sr['ci95'][0]:.4f}..{sr['ci95'][1]:.4f}",
                "seed_sr_ci95": "{:.4f}..{:.4f}".format(*r["seed_success_rate"]["ci95"]),
                "spl": r["metrics"]["spl"]["mean"] if "spl" in r["metrics"] else "",
                "robustness_drop": ""
                if not drop
                else ("n/a (SR_clean = 0)" if math.isnan(drop["mean"]) else drop["mean"]),
            }
        )
    return rows


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def _markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c, "")
            cells.append(f"{value:.3f}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rolling_mean(values: list[float], weights: list[float], window: int) -> list[float]:
    """Trailing mean over `window` iterations, each weighted by its finished episodes (NaN values carry none)."""
    import numpy as np

    v = np.asarray(values, float)
    w = np.where(np.isnan(v), 0.0, np.asarray(weights, float))
    kernel = np.ones(window)
    total = np.convolve(np.nan_to_num(v) * w, kernel)[: len(v)]
    count = np.convolve(w, kernel)[: len(v)]
    return [float(t / c) if c > 0 else float("nan") for t, c in zip(total, count, strict=True)]


def _progress_rows(run_dir: Path) -> list[dict[str, Any]]:
    progress = run_dir / "progress.jsonl"
    if not progress.is_file():
        return []
    return [json.loads(line) for line in progress.read_text().splitlines() if line.strip()]


def _plot_smoothed(ax: Any, rows: list[dict[str, Any]], x_key: str, key: str, label: str) -> None:
    """Per-iteration values faint, their episode-weighted rolling mean over 2% of the iterations on top."""
    x = [r[x_key] for r in rows]
    raw = [r.get(key, float("nan")) for r in rows]
    (line,) = ax.plot(x, raw, alpha=0.2, linewidth=0.8)
    window = max(1, len(rows) // 50)
    ax.plot(x, rolling_mean(raw, [r.get("episodes", 0) for r in rows], window), color=line.get_color(), label=label)


def plot_learning_curves(runs: list[tuple[Path, dict[str, Any]]], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = []
    for run_dir, manifest in runs:
        rows = _progress_rows(run_dir)
        if rows:
            label = (  # the run directory first: it tells apart runs that differ only in hyperparameters
                f"{run_dir.name}: {manifest['task']} {manifest['kind']} {manifest['encoder']['label']} "
                f"noise={manifest['train_noise']} s{manifest['seed']}"
            )
            curves.append((label, rows))
    if not curves:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for label, rows in curves:
        for ax, key in ((axes[0], "mean_reward"), (axes[1], "train_success_rate")):
            _plot_smoothed(ax, rows, "env_steps", key, label)
    smoothing = "episode-weighted mean over 2% of the iterations; faint: per iteration"
    axes[0].set(xlabel="env steps", ylabel="mean episode return", title=f"Training return\n({smoothing})")
    axes[1].set(
        xlabel="env steps",
        ylabel="success rate (episodes ending in the iteration)",
        title=f"Training success\n({smoothing})",
        ylim=(-0.02, 1.02),
    )
    axes[1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_curriculum(runs: list[tuple[Path, dict[str, Any]]], path: Path) -> bool:
    """Mean curriculum level and climbed metres of the training episodes per iteration (anymal-ladder), for the runs
    whose progress rows carry them; False (no file) when none does."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = []
    for run_dir, manifest in runs:
        rows = [r for r in _progress_rows(run_dir) if "curriculum_level" in r]
        if rows:
            curves.append((f"{run_dir.name}: {manifest['task']} {manifest['kind']} s{manifest['seed']}", rows))
    if not curves:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for label, rows in curves:
        for ax, key in ((axes[0], "curriculum_level"), (axes[1], "climbed_m")):
            _plot_smoothed(ax, rows, "iteration", key, label)
    top = max(r["curriculum_level"] for _, rows in curves for r in rows)
    axes[0].set(xlabel="iteration", ylabel="mean curriculum level (0 = easiest)", title="Curriculum level")
    axes[0].set_ylim(-0.2, max(top, 1.0) + 0.2)
    axes[1].set(xlabel="iteration", ylabel="climbed m (highest base height - spawn)", title="Climbed")
    fig.suptitle(
        "episodes ending in each iteration (faint); episode-weighted mean over 2% of the iterations", fontsize=9
    )
    axes[1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_ablation_heatmap(ablation: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    spec = ablation["spec"]
    row_keys, labels = [], {}
    for r in ablation["rows"]:
        key = (r["encoder"], r["train_noise"])
        labels[key] = f"{r['encoder_label']}\ntrain: {r['train_noise']}"
        if key not in row_keys:
            row_keys.append(key)
    cols = spec["eval_noises"]
    grid = np.full((len(row_keys), len(cols)), np.nan)
    for r in ablation["rows"]:
        grid[row_keys.index((r["encoder"], r["train_noise"])), cols.index(r["eval_noise"])] = r["metrics"][
            "success_rate"
        ]["mean"]
    fig, ax = plt.subplots(figsize=(2.2 + 1.8 * len(cols), 1.2 + 0.8 * len(row_keys)))
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), [f"eval: {c}" for c in cols], rotation=20, ha="right", fontsize=8)
    ax.set_yticks(range(len(row_keys)), [labels[k] for k in row_keys], fontsize=8)
    for i in range(len(row_keys)):
        for j in range(len(cols)):
            if not np.isnan(grid[i, j]):
                ax.text(
                    j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color="white" if grid[i, j] < 0.5 else "black"
                )
    ax.set_title(f"{spec['task']}: success rate ({len(spec['seeds'])} seed(s))")
    fig.colorbar(image, ax=ax, label="SR")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_ladder_grid(data: dict[str, Any], path: Path) -> bool:
    """SR per (angle, rung radius) cell of a ladder evaluation, and the mean climbed metres per cell beside it."""
    groups = [g for g in data["groups"] if {"angle_deg", "rung_radius_mm"} <= set(g["key"])]
    if not groups:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    angles = sorted({float(g["key"]["angle_deg"]) for g in groups})
    radii = sorted({float(g["key"]["rung_radius_mm"]) for g in groups})
    panels = [("success_rate", "SR", (0.0, 1.0))]
    if all("climbed_m" in g["metrics"] for g in groups):
        top = max(g["metrics"]["climbed_m"]["mean"] for g in groups)
        panels.append(("climbed_m", "climbed m", (0.0, max(top, 0.1))))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(len(panels) * (1.5 + 0.9 * len(radii)), 1.5 + 0.7 * len(angles)), squeeze=False
    )
    for ax, (metric, name, (low, high)) in zip(axes[0], panels, strict=True):
        grid = np.full((len(angles), len(radii)), np.nan)
        for g in groups:
            cell = angles.index(float(g["key"]["angle_deg"])), radii.index(float(g["key"]["rung_radius_mm"]))
            grid[cell] = g["metrics"][metric]["mean"]
        image = ax.imshow(grid, vmin=low, vmax=high, cmap="viridis", origin="lower", aspect="auto")
        ax.set_xticks(range(len(radii)), [f"{r:g}" for r in radii])
        ax.set_yticks(range(len(angles)), [f"{a:g}" for a in angles])
        ax.set(
            xlabel="rung radius (mm)",
            ylabel="ladder angle (deg)",
            title=f"ladder {name}: {data['encoder']['label']}, eval noise {data['eval_noise']}",
        )
        for i in range(len(angles)):
            for j in range(len(radii)):
                if not np.isnan(grid[i, j]):
                    light = grid[i, j] < (low + high) / 2
                    ax.text(
                        j,
                        i,
                        f"{grid[i, j]:.2f}",
                        ha="center",
                        va="center",
                        color="white" if light else "black",
                        fontsize=8,
                    )
        fig.colorbar(image, ax=ax, label=name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def build_report(runs_dir: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """Write report.md, results.csv, ablation.csv and PNG plots into `out` (default RUNS_DIR/report)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise DepthbenchError(f"runs directory not found: {runs_dir}")
    out = Path(out) if out else runs_dir / "report"
    found = collect(runs_dir)
    if not any(found.values()):
        raise DepthbenchError(f"no depthbench runs, metrics or ablations under {runs_dir}")
    out.mkdir(parents=True, exist_ok=True)
    results = results_rows(found["metrics"], runs_dir)
    _write_csv(out / "results.csv", results)
    sections = [f"# depthbench report: {runs_dir}", ""]
    sections += [
        "Encoders are named by label: random-init weights carry '(RANDOM INIT)' and are not DeFM results.",
        "Intervals are 95% CIs: Wilson for success rates, bootstrap for other metrics.",
        "",
    ]
    images = []
    if plot_learning_curves(found["runs"], out / "learning_curves.png"):
        images.append("learning_curves.png")
    if plot_curriculum(found["runs"], out / "curriculum.png"):
        images.append("curriculum.png")
    abl_rows: list[dict[str, Any]] = []
    for index, (_, ablation) in enumerate(found["ablations"]):
        abl_rows += ablation_rows(ablation)
        name = f"ablation_heatmap{'' if index == 0 else f'_{index}'}.png"
        plot_ablation_heatmap(ablation, out / name)
        images.append(name)
    _write_csv(out / "ablation.csv", abl_rows)
    for path, data in found["metrics"]:
        name = f"ladder_grid_{path.stem}.png"
        if plot_ladder_grid(data, out / name):
            images.append(name)
    if abl_rows:
        sections += [
            "## Ablation",
            "",
            _markdown_table(
                abl_rows,
                [
                    "task",
                    "encoder",
                    "train_noise",
                    "eval_noise",
                    "seeds",
                    "episodes",
                    "success_rate",
                    "success_rate_ci95",
                    "spl",
                    "robustness_drop",
                ],
            ),
            "",
        ]
    if results:
        table_rows = [
            {
                **r,
                "SR [95% CI]": _fmt(_estimate(found, r, "success_rate")),
                "SPL [95% CI]": _fmt(_estimate(found, r, "spl")),
            }
            for r in results
        ]
        sections += [
            "## Evaluations",
            "",
            _markdown_table(
                table_rows,
                [
                    "task",
                    "kind",
                    "encoder",
                    "train_noise",
                    "eval_noise",
                    "split",
                    "train_seed",
                    "iterations",
                    "actions",
                    "episodes",
                    "SR [95% CI]",
                    "SPL [95% CI]",
                    "normalized_to_teacher",
                ],
            ),
            "",
        ]
    across_seeds = seed_rows(found["metrics"])
    _write_csv(out / "seeds.csv", across_seeds)
    if across_seeds:
        sections += [
            "## Pooled over training seeds",
            "",
            _markdown_table(
                across_seeds,
                [
                    "task",
                    "kind",
                    "encoder",
                    "train_noise",
                    "eval_noise",
                    "split",
                    "iterations",
                    "actions",
                    "seeds",
                    "episodes",
                    "success_rate",
                    "success_rate_ci95",
                    "seed_sr_ci95",
                ],
            ),
            "",
        ]
    breakdown = group_rows(found["metrics"], runs_dir)
    _write_csv(out / "groups.csv", breakdown)
    if breakdown:
        sections += [
            "## Breakdowns (scene family, ladder cell)",
            "",
            _markdown_table(breakdown, ["file", "encoder", "eval_noise", "group", "episodes", "SR [95% CI]"]),
            "",
        ]
    provenance = sorted({(r["encoder"], r["weights_provenance"]) for r in results + abl_rows})
    if provenance:
        sections += ["## Weights provenance", ""] + [f"- {label}: `{prov}`" for label, prov in provenance] + [""]
    sections += [f"![{name}]({name})" for name in images]
    write_text_atomic(out / "report.md", "\n".join(sections) + "\n")
    return {"out": out, "results": results, "ablation": abl_rows, "images": images}


def _estimate(found: dict[str, Any], row: dict[str, Any], name: str) -> dict[str, Any] | None:
    for path, data in found["metrics"]:
        if str(path).endswith(row["file"]):
            return data["metrics"].get(name)
    return None
