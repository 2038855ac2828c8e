"""Markdown results table for docs/embodied-nav.md, straight from evaluation JSONs (overall and per family).

Usage: python scripts/embodied_nav_table.py LABEL=PATH.json[@TEACHER.json] ...
With @TEACHER.json (the teacher's evaluation of the same split), adds student SR / teacher SR on the episodes both
evaluated (the split's order makes a shorter evaluation the first N episodes of a longer one).

       python scripts/embodied_nav_table.py --radius LABEL=PATH.json ...
corridors episodes by footprint radius: the maze's openings (0.9 m minus the crossing wall) pass only small robots,
so only their shortest paths lead through openings.
"""

import json
import sys
from pathlib import Path

from depthbench.agents.evaluation import normalized_success
from depthbench.agents.stats import wilson_interval

RADIUS_BINS_M = ((0.15, 0.25), (0.25, 0.35), (0.35, 0.46))  # the embodiment range [0.15, 0.45] m


def cell(metric: dict) -> str:
    lo, hi = metric["ci95"]
    return f"{metric['mean']:.3f} [{lo:.3f}, {hi:.3f}]"


def episode_records(path: str, result: dict) -> list[dict]:
    return json.loads((Path(path).parent / result["episode_records_file"]).read_text())


def teacher_ratio(path: str, result: dict, teacher_path: str, families: set[str] | None) -> dict:
    teacher = json.loads(Path(teacher_path).read_text())
    student = [r for r in episode_records(path, result) if families is None or r["family"] in families]
    by_id = {r["episode_id"]: r for r in episode_records(teacher_path, teacher)}
    missing = [r["episode_id"] for r in student if r["episode_id"] not in by_id]
    if missing:
        raise SystemExit(f"{teacher_path} lacks episodes {missing[:5]}...: evaluate the teacher on at least as many")
    return normalized_success(student, [by_id[r["episode_id"]] for r in student], seed=result["eval_seed"])


def rows(label: str, path: str, teacher_path: str | None = None) -> list[str]:
    with open(path) as f:
        result = json.load(f)
    out = []
    parts = [("all", result["episodes"], result["metrics"])]
    parts += [(g["key"]["family"], g["episodes"], g["metrics"]) for g in result["groups"]]
    for family, n, m in parts:
        values = [cell(m["success_rate"]), f"{m['spl']['mean']:.3f}", cell(m["collision_failure"]), cell(m["timeout"])]
        out.append(f"| {label} | {result['split']} | {family} | {n} | " + " | ".join(values) + " |")
    if teacher_path:
        for family in ["all"] + [g["key"]["family"] for g in result["groups"]]:
            norm = teacher_ratio(path, result, teacher_path, None if family == "all" else {family})
            lo, hi = norm["ci95"]
            out.append(
                f"| {label} SR / teacher SR | {result['split']} | {family} | {norm['n']} | "
                f"{norm['mean']:.3f} [{lo:.3f}, {hi:.3f}] | | | |"
            )
    return out


def radius_rows(label: str, path: str) -> list[str]:
    result = json.loads(Path(path).read_text())
    corridors = [r for r in episode_records(path, result) if r["family"] == "corridors"]
    out = []
    for lo_r, hi_r in RADIUS_BINS_M:
        part = [r for r in corridors if lo_r <= r["radius_m"] < hi_r]
        wins, n = sum(r["success"] for r in part), len(part)
        lo, hi = wilson_interval(wins, n)
        timeouts = sum(r["timeout"] for r in part) / max(n, 1)
        sr = f"{wins / max(n, 1):.3f} [{lo:.3f}, {hi:.3f}]"
        out.append(f"| {label} | [{lo_r:.2f}, {hi_r:.2f}) | {n} | {sr} | {timeouts:.3f} |")
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--radius"]:
        print("| policy | footprint radius (m) | corridors episodes | SR [95% CI] | time-outs |")
        print("|---|---|---|---|---|")
        for arg in sys.argv[2:]:
            print("\n".join(radius_rows(*arg.split("=", 1))))
        raise SystemExit(0)
    header = (
        "| policy | split | family | episodes | SR [95% CI] | SPL | collision failures [95% CI] | time-outs [95% CI] |"
    )
    print(header)
    print("|---|---|---|---|---|---|---|---|")
    for arg in sys.argv[1:]:
        label, paths = arg.split("=", 1)
        path, _, teacher_path = paths.partition("@")
        print("\n".join(rows(label, path, teacher_path or None)))
