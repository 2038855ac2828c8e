"""`depthbench leaderboard`: the one results table, generated from evaluation JSONs (never typed by hand).

One row per task x policy recipe (kind, encoder, train noise, iterations, action mode) x eval noise, its training seeds
pooled: SR over all episodes with a Wilson 95% CI, SPL (bootstrap CI), SR normalized to a teacher evaluated in the same
action mode (bootstrap ratio CI), and the robustness drop against the same recipe's clean evaluation (SR_clean -
SR_noisy, Newcombe CI; and relative to SR_clean as in the DeFM paper). The aggregate over tasks uses rliable (Agarwal
et al. 2021): IQM and mean of per-run scores with stratified-bootstrap CIs, and a performance profile.

Files: leaderboard.md (marked as generated, with the command that regenerates it), leaderboard.csv,
leaderboard_aggregate.csv, leaderboard.png. `--readme FILE` also replaces the section between the results markers.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from depthbench.agents import stats
from depthbench.agents.report import _fmt, _markdown_table, collect, pool_by_seed
from depthbench.errors import DepthbenchError
from depthbench.files import write_text_atomic

CLEAN = "clean"
MARKERS = ("<!-- results:start -->", "<!-- results:end -->")
BOOTSTRAP_SEED = 0
BOOTSTRAP_REPS = 2000  # rliable's default for performance profiles; --bootstrap-reps for more
KEY_FIELDS = ("task", "kind", "encoder", "train_noise", "eval_noise", "split", "iterations", "actions", "recipe")
TABLE_COLUMNS = [
    "task",
    "encoder",
    "kind",
    "train noise",
    "eval noise",
    "split",
    "actions",
    "iters",
    "recipe",
    "seeds",
    "episodes",
    "SR [95% CI]",
    "SPL [95% CI]",
    "SR / teacher [95% CI]",
    "drop: SR clean - noisy [95% CI]",
    "relative drop [95% CI]",
]
AGGREGATE_COLUMNS = [
    "method",
    "tasks",
    "runs per task",
    "IQM SR [95% CI]",
    "mean SR [95% CI]",
    "IQM SR / teacher [95% CI]",
    "mean SR / teacher [95% CI]",
]


def _estimate(mean: float, ci: tuple[float, float] | list[float], n: int, method: str) -> dict[str, Any]:
    return {"mean": float(mean), "ci95": [float(ci[0]), float(ci[1])], "n": int(n), "method": method}


def gather(results_dirs: list[Path], *, include_references: bool = False) -> list[tuple[Path, dict[str, Any]]]:
    """Every metrics JSON under the given folders (recursively) and, with `include_references`, the shipped reference
    policies' stored evaluations; a file reached twice is read once."""
    from depthbench.agents import references

    folders = list(results_dirs)
    for folder in folders:
        if not folder.is_dir():
            raise DepthbenchError(f"results directory not found: {folder}")
    if include_references:
        folders += [entry.path / references.EVAL_DIR for entry in references.entries()]
    seen: set[Path] = set()
    found = []
    for folder in folders:
        for path, data in collect(folder)["metrics"] if folder.is_dir() else []:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.append((path, data))
    if not found:
        where = ", ".join(
            [str(f) for f in results_dirs]
            + ([f"the reference store {references.store_root()}"] if include_references else [])
        )
        raise DepthbenchError(f"no evaluation JSONs (depthbench.metrics/1) under {where}; run `depthbench eval` first")
    return found


def _successes(records: list[dict[str, Any]]) -> list[float]:
    return [float(r["success"]) for r in records]


def _teacher_successes(data: dict[str, Any]) -> list[float] | None:
    """A distilled student's evaluation carries its teacher's SR on the same episodes; for 0/1 outcomes the count is
    all a mean or its bootstrap depends on, so the teacher's outcomes are rebuilt exactly from (mean, n)."""
    teacher = data.get("teacher", {}).get("metrics", {}).get("success_rate")
    if teacher is None:
        return None
    n = int(teacher["n"])
    wins = round(teacher["mean"] * n)
    return [1.0] * wins + [0.0] * (n - wins)


def build_rows(metrics: list[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per `evaluation_key` (seeds pooled, one evaluation per seed), with SR, SPL, SR / teacher and drops."""
    from depthbench.agents.ablation import robustness_drop
    from depthbench.agents.evaluation import normalized_success

    pooled = pool_by_seed(metrics, require_records=True)
    rows: dict[tuple, dict[str, Any]] = {}
    for key, by_seed in sorted(pooled.items(), key=lambda item: tuple(str(v) for v in item[0])):
        seeds = sorted(by_seed)
        records = [r for seed in seeds for r in by_seed[seed][2]]
        successes = _successes(records)
        first = by_seed[seeds[0]][1]
        row: dict[str, Any] = dict(zip(KEY_FIELDS, key, strict=True))
        row.update(
            weights_provenance=first["encoder"]["weights_provenance"],
            weights_average=first.get("weights_average", {}).get("iterations"),
            seeds=seeds,
            per_seed_sr={seed: float(np.mean(_successes(by_seed[seed][2]))) for seed in seeds},
            episodes=len(records),
            files=[_shown_path(by_seed[seed][0]) for seed in seeds],
            successes=successes,
            sr=stats.summarize(successes, indicator=True),
        )
        spl = [float(r["spl"]) for r in records if "spl" in r and not math.isnan(float(r["spl"]))]
        row["spl"] = stats.summarize(spl, indicator=False, seed=BOOTSTRAP_SEED) if spl else None
        embedded = [_teacher_successes(by_seed[seed][1]) for seed in seeds]
        if all(t is not None for t in embedded):
            row["teacher_successes"] = [s for t in embedded for s in t]
            row["teacher_source"] = "same episodes (distilled student's evaluation)"
        rows[key] = row
    for key, row in rows.items():
        if row["kind"] != "teacher" and "teacher_successes" not in row:
            teacher = _matching_teacher(row, rows)
            if teacher is not None:
                row["teacher_successes"] = teacher["successes"]
                row["teacher_source"] = "; ".join(teacher["files"])
        if "teacher_successes" in row:
            student = [{"success": s} for s in row["successes"]]
            teacher = [{"success": s} for s in row["teacher_successes"]]
            row["teacher_sr"] = float(np.mean(row["teacher_successes"]))
            row["normalized"] = normalized_success(student, teacher, seed=BOOTSTRAP_SEED)
        clean = rows.get((*key[:4], CLEAN, *key[5:]))
        if row["eval_noise"] != CLEAN and clean is not None:
            a, b = clean["successes"], row["successes"]
            low, high = stats.difference_interval(sum(a), len(a), sum(b), len(b))
            row["drop"] = _estimate(np.mean(a) - np.mean(b), (low, high), len(b), "newcombe")
            row["relative_drop"] = robustness_drop(a, b, seed=BOOTSTRAP_SEED)
    return list(rows.values())


def _matching_teacher(row: dict[str, Any], rows: dict[tuple, dict[str, Any]]) -> dict[str, Any] | None:
    """A privileged-teacher row of the same task, split and action mode: the same eval noise if evaluated (a teacher
    sees no depth, so depth noise cannot change it), else clean; most episodes first."""
    candidates = [
        r
        for r in rows.values()
        if r["kind"] == "teacher"
        and (r["task"], r["split"], r["actions"]) == (row["task"], row["split"], row["actions"])
    ]
    for noise in (row["eval_noise"], CLEAN):
        same = [r for r in candidates if r["eval_noise"] == noise]
        if same:
            return max(same, key=lambda r: (r["episodes"], r["iterations"]))
    return None


def method_label(row: dict[str, Any]) -> str:
    """A recipe x eval noise across tasks (no '|': it sits in a markdown table cell); a weight average is a method
    of its own per span of iterates."""
    label = f"{row['encoder']} · {row['kind']} · train {row['train_noise']} · eval {row['eval_noise']}"
    label += f" · {row['actions']}"
    return f"{label} · {_iterations(row)}" if row.get("weights_average") else label


@contextlib.contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    """rliable's stratified bootstrap draws from numpy's global RNG (np.random.choice); seed it and restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _aggregate_rank(row: dict[str, Any]) -> tuple:
    return (row["split"] == "test", row["iterations"], len(row["seeds"]), row["episodes"])


def score_matrices(rows: list[dict[str, Any]], *, normalized: bool) -> dict[str, dict[str, Any]]:
    """Per method (a recipe x eval noise, across tasks): the (runs x tasks) score matrix rliable expects, a run being
    a training seed. Per-run score: the seed's SR, or SR / the task teacher's pooled SR. Where a method has several
    rows on one task (splits, iterations or recipes), its held-out test split is used where evaluated, then the row
    trained longest, then the one with the most seeds and episodes (not whichever sorts first); tasks with fewer seeds
    cut every task to the smallest seed count (the first seeds)."""
    methods: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if normalized and (row["kind"] == "teacher" or not row.get("teacher_sr")):
            continue
        per_task = methods.setdefault(method_label(row), {})
        held = per_task.get(row["task"])
        if held is None or _aggregate_rank(row) > _aggregate_rank(held):
            per_task[row["task"]] = row
    out = {}
    for label, per_task in sorted(methods.items()):
        tasks = sorted(per_task)
        runs = min(len(per_task[t]["seeds"]) for t in tasks)
        columns = []
        for task in tasks:
            row = per_task[task]
            scores = [row["per_seed_sr"][seed] for seed in row["seeds"][:runs]]
            columns.append([s / row["teacher_sr"] for s in scores] if normalized else scores)
        out[label] = {"tasks": tasks, "runs": runs, "scores": np.asarray(columns, dtype=np.float64).T}
    return out


def aggregate(rows: list[dict[str, Any]], *, reps: int = BOOTSTRAP_REPS, seed: int = BOOTSTRAP_SEED) -> list[dict]:
    """IQM and mean over tasks (and runs) with rliable's stratified-bootstrap 95% CIs, of SR and of SR / teacher."""
    from rliable import library as rly
    from rliable import metrics as rly_metrics

    def iqm_and_mean(scores: np.ndarray) -> np.ndarray:
        return np.array([rly_metrics.aggregate_iqm(scores), rly_metrics.aggregate_mean(scores)])

    out: dict[str, dict[str, Any]] = {}
    for normalized in (False, True):
        matrices = score_matrices(rows, normalized=normalized)
        if not matrices:
            continue
        with _numpy_seed(seed):
            points, intervals = rly.get_interval_estimates(
                {label: m["scores"] for label, m in matrices.items()}, iqm_and_mean, reps=reps
            )
        suffix = "_normalized" if normalized else ""
        for label, m in matrices.items():
            entry = out.setdefault(label, {"method": label, "tasks": m["tasks"], "runs": m["runs"]})
            n = int(m["scores"].size)
            entry[f"iqm{suffix}"] = _estimate(points[label][0], intervals[label][:, 0], n, "stratified-bootstrap")
            entry[f"mean{suffix}"] = _estimate(points[label][1], intervals[label][:, 1], n, "stratified-bootstrap")
            entry[f"scores{suffix}"] = m["scores"]
    return list(out.values())


def _cell(row: dict[str, Any], name: str) -> str:
    return _fmt(row.get(name)) if row.get(name) else "-"


def _iterations(row: dict[str, Any]) -> str | int:
    """The iteration count, or for a weight average (depthbench average) the span of the iterates averaged."""
    averaged = row.get("weights_average")
    return f"mean {averaged[0]}-{averaged[-1]}" if averaged else row["iterations"]


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "task": r["task"],
            "encoder": r["encoder"],
            "kind": r["kind"],
            "train noise": r["train_noise"],
            "eval noise": r["eval_noise"],
            "split": r["split"],
            "actions": r["actions"],
            "iters": _iterations(r),
            "recipe": r["recipe"],
            "seeds": len(r["seeds"]),
            "episodes": r["episodes"],
            "SR [95% CI]": _fmt(r["sr"]),
            "SPL [95% CI]": _cell(r, "spl"),
            "SR / teacher [95% CI]": _cell(r, "normalized"),
            "drop: SR clean - noisy [95% CI]": _cell(r, "drop"),
            "relative drop [95% CI]": _cell(r, "relative_drop"),
        }
        for r in rows
    ]


def aggregate_table_rows(aggregates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "method": a["method"],
            "tasks": ", ".join(a["tasks"]),
            "runs per task": a["runs"],
            "IQM SR [95% CI]": _cell(a, "iqm"),
            "mean SR [95% CI]": _cell(a, "mean"),
            "IQM SR / teacher [95% CI]": _cell(a, "iqm_normalized"),
            "mean SR / teacher [95% CI]": _cell(a, "mean_normalized"),
        }
        for a in aggregates
    ]


def csv_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Machine-readable rows: every estimate as mean, CI low and CI high."""
    out = []
    for r in rows:
        item: dict[str, Any] = {field: r[field] for field in KEY_FIELDS}
        item.update(
            weights_provenance=r["weights_provenance"],
            seeds=" ".join(str(s) for s in r["seeds"]),
            episodes=r["episodes"],
        )
        for name in ("sr", "spl", "normalized", "drop", "relative_drop"):
            estimate = r.get(name)
            item[name] = estimate["mean"] if estimate else ""
            item[f"{name}_ci95_low"] = estimate["ci95"][0] if estimate else ""
            item[f"{name}_ci95_high"] = estimate["ci95"][1] if estimate else ""
        item["teacher_sr"] = r.get("teacher_sr", "")
        item["teacher_source"] = r.get("teacher_source", "")
        item["files"] = " ".join(r["files"])
        out.append(item)
    return out


def aggregate_csv_rows(aggregates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for a in aggregates:
        item: dict[str, Any] = {"method": a["method"], "tasks": " ".join(a["tasks"]), "runs_per_task": a["runs"]}
        for name in ("iqm", "mean", "iqm_normalized", "mean_normalized"):
            estimate = a.get(name)
            item[name] = estimate["mean"] if estimate else ""
            item[f"{name}_ci95_low"] = estimate["ci95"][0] if estimate else ""
            item[f"{name}_ci95_high"] = estimate["ci95"][1] if estimate else ""
        out.append(item)
    return out


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["method"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def markdown_section(
    rows: list[dict[str, Any]],
    aggregates: list[dict[str, Any]],
    *,
    command: str,
    image: str,
    sources: int,
    reps: int = BOOTSTRAP_REPS,
) -> str:
    """The table as markdown, headed by the command that regenerates it."""
    episodes = sum(r["episodes"] for r in rows)
    lines = [
        f"<!-- generated by `{command}`: do not edit by hand, rerun the command -->",
        f"Generated by `{command}` from {sources} evaluation file(s), {episodes} episodes. Training seeds of one "
        "recipe are pooled (one evaluation per seed). 95% CIs: Wilson for SR, bootstrap for SPL and SR / teacher (a "
        "privileged teacher of the same task and split, acting the same way), Newcombe for the drop SR_clean - "
        "SR_noisy, bootstrap for the relative drop (SR_clean - SR_noisy) / SR_clean; '(RANDOM INIT)' marks encoders "
        "without their pretrained weights.",
        "",
        _markdown_table(table_rows(rows), TABLE_COLUMNS),
        "",
        "Aggregate over tasks (rliable, Agarwal et al. 2021): interquartile mean and mean of per-run scores (a run is "
        "a training seed; score = its SR, or SR / the task teacher's SR), 95% stratified-bootstrap CIs over runs "
        f"({reps} replicates, seed {BOOTSTRAP_SEED}).",
        "",
        _markdown_table(aggregate_table_rows(aggregates), AGGREGATE_COLUMNS),
        "",
    ]
    provenance = sorted({(r["encoder"], r["weights_provenance"]) for r in rows})
    lines += ["Weights provenance:", ""] + [f"- {label}: `{prov}`" for label, prov in provenance] + [""]
    lines += [f"![leaderboard: per-task SR, aggregate IQM / mean, performance profile]({image})", ""]
    return "\n".join(lines)


def plot(
    rows: list[dict[str, Any]], aggregates: list[dict[str, Any]], path: Path, *, reps: int = BOOTSTRAP_REPS
) -> None:
    """Per-task SR bars with 95% CIs (a group per policy, a bar per eval noise), the aggregate IQM / mean with their
    stratified-bootstrap CIs, and rliable's performance profile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns
    from rliable import library as rly
    from rliable import plot_utils

    tasks = sorted({r["task"] for r in rows})
    fig = plt.figure(figsize=(max(14.0, 5.0 * len(tasks)), 10.5))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.15, 1.0])
    task_axes = np.atleast_1d(top.subplots(1, len(tasks)))
    for ax, task in zip(task_axes, tasks, strict=True):
        task_rows = [r for r in rows if r["task"] == task]
        policies = sorted({(r["encoder"], r["kind"], r["train_noise"], r["actions"]) for r in task_rows})
        noises = sorted({r["eval_noise"] for r in task_rows}, key=lambda n: (n != CLEAN, n))
        width = 0.8 / len(noises)
        for j, noise in enumerate(noises):
            xs, means, errors = [], [], [[], []]
            for i, policy in enumerate(policies):
                match = [r for r in task_rows if (r["encoder"], r["kind"], r["train_noise"], r["actions"]) == policy]
                match = [r for r in match if r["eval_noise"] == noise]
                if match:
                    sr = max(match, key=lambda r: r["iterations"])["sr"]
                    xs.append(i - 0.4 + width * (j + 0.5))
                    means.append(sr["mean"])
                    # clamped: a Wilson bound equal to the mean (SR 0 or 1) can differ from it in the last bit
                    errors[0].append(max(0.0, sr["mean"] - sr["ci95"][0]))
                    errors[1].append(max(0.0, sr["ci95"][1] - sr["mean"]))
            ax.bar(xs, means, width, yerr=errors, capsize=3, label=f"eval: {noise}")
        labels = [
            f"{enc.replace(' (', chr(10) + '(')}\n{kind}, train {noise}\n{act}" for enc, kind, noise, act in policies
        ]
        ax.set_xticks(range(len(policies)), labels, fontsize=7)
        ax.set(title=f"{task}: success rate (95% Wilson CI)", ylim=(0, 1.05), ylabel="SR")
        ax.legend(fontsize=7)
    iqm_ax, mean_ax, profile_ax = bottom.subplots(1, 3)
    suffix = "_normalized" if any("iqm_normalized" in a for a in aggregates) else ""
    unit = "SR / teacher" if suffix else "SR"
    shown = [a for a in aggregates if f"iqm{suffix}" in a]
    colors = dict(zip([a["method"] for a in shown], sns.color_palette("colorblind", len(shown)), strict=True))
    for ax, name in ((iqm_ax, "IQM"), (mean_ax, "mean")):
        for i, a in enumerate(shown):
            estimate = a[f"{name.lower()}{suffix}"]
            low, high = estimate["ci95"]
            ax.barh(i, max(high - low, 1e-3), left=low, height=0.6, alpha=0.75, color=colors[a["method"]])
            ax.plot([estimate["mean"]] * 2, [i - 0.3, i + 0.3], color="k")
        ax.set_yticks(range(len(shown)), [a["method"] for a in shown] if name == "IQM" else [], fontsize=7)
        ax.set(title=f"{name} of {unit} over tasks\n(95% stratified-bootstrap CI)", xlabel=unit)
    scores = {a["method"]: a[f"scores{suffix}"] for a in shown}
    highest = max(1.0, max(float(s.max()) for s in scores.values()))
    taus = np.linspace(0.0, highest * 1.05, 81)
    with _numpy_seed(BOOTSTRAP_SEED):
        profiles, profile_cis = rly.create_performance_profile(scores, taus, reps=reps)
    plot_utils.plot_performance_profiles(
        profiles,
        taus,
        performance_profile_cis=profile_cis,
        ax=profile_ax,
        colors=colors,
        xlabel=f"{unit} (tau)",
        ylabel="fraction of runs with score > tau",
        labelsize="medium",
        ticklabelsize="medium",
    )
    profile_ax.set_title(f"Performance profile: fraction of runs with {unit} > tau", fontsize=10)
    profile_ax.legend(fontsize=6, loc="lower left")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _around_markers(readme: Path) -> tuple[str, str]:
    """The text of `readme` before and after its results section (checked before anything is computed)."""
    if not readme.is_file():
        raise DepthbenchError(f"--readme: {readme} not found")
    text = readme.read_text()
    start, end = MARKERS
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise DepthbenchError(f"--readme: {readme} needs exactly one '{start}' ... '{end}' pair to replace")
    before, rest = text.split(start)
    return before, rest.split(end)[1]


def build_leaderboard(
    results_dirs: list[str | Path],
    out: str | Path,
    *,
    include_references: bool = False,
    command: str = "depthbench leaderboard",
    readme: str | Path | None = None,
    reps: int = BOOTSTRAP_REPS,
) -> dict[str, Any]:
    """Write leaderboard.md / .csv / _aggregate.csv / .png into `out` (each atomically) and, with `readme`, replace
    that file's results section; returns rows and aggregates."""
    readme = Path(readme) if readme is not None else None
    around = _around_markers(readme) if readme is not None else None
    if reps < 100:
        raise DepthbenchError(f"--bootstrap-reps must be >= 100 for a 95% percentile interval, got {reps}")
    metrics = gather([Path(d) for d in results_dirs], include_references=include_references)
    rows = build_rows(metrics)
    aggregates = aggregate(rows, reps=reps)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "leaderboard.csv", _csv_text(csv_rows(rows)))
    write_text_atomic(out / "leaderboard_aggregate.csv", _csv_text(aggregate_csv_rows(aggregates)))
    image = out / "leaderboard.png"
    tmp_image = out / f".leaderboard.tmp{os.getpid()}.png"
    plot(rows, aggregates, tmp_image, reps=reps)
    os.replace(tmp_image, image)
    common = {"command": command, "sources": len(metrics), "reps": reps}
    section = markdown_section(rows, aggregates, image=image.name, **common)
    write_text_atomic(out / "leaderboard.md", f"# depthbench leaderboard\n\n{section}")
    if readme is not None and around is not None:
        relative = Path(os.path.relpath(image.resolve(), readme.resolve().parent)).as_posix()
        section = markdown_section(rows, aggregates, image=relative, **common)
        start, end = MARKERS
        write_text_atomic(readme, f"{around[0]}{start}\n{section}\n{end}{around[1]}")
    return {"out": out, "rows": rows, "aggregates": aggregates, "files": len(metrics)}


def _shown_path(path: Any) -> str:
    """An evaluation file as the table shows it: relative to the working directory (the repository root for the
    generated README table) or to the shipped reference store, never a machine's absolute path."""
    from depthbench.agents.references import store_root

    path = Path(path).resolve()
    for root, prefix in ((Path.cwd().resolve(), ""), (store_root().resolve(), "reference store: ")):
        try:
            return prefix + str(path.relative_to(root))
        except ValueError:
            continue
    return path.name
