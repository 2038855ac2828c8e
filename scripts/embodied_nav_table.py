"""Markdown results table for docs/embodied-nav.md, straight from evaluation JSONs (overall and per family).

Usage: python scripts/embodied_nav_table.py LABEL=PATH.json [LABEL=PATH.json ...]
"""

import json
import sys


def cell(metric: dict) -> str:
    lo, hi = metric["ci95"]
    return f"{metric['mean']:.3f} [{lo:.3f}, {hi:.3f}]"


def rows(label: str, path: str) -> list[str]:
    with open(path) as f:
        result = json.load(f)
    out = []
    parts = [("all", result["episodes"], result["metrics"])]
    parts += [(g["key"]["family"], g["episodes"], g["metrics"]) for g in result["groups"]]
    for family, n, m in parts:
        values = [cell(m["success_rate"]), f"{m['spl']['mean']:.3f}", cell(m["collision_failure"]), cell(m["timeout"])]
        out.append(f"| {label} | {result['split']} | {family} | {n} | " + " | ".join(values) + " |")
    if "normalized_to_teacher" in result:
        norm = result["normalized_to_teacher"]
        lo, hi = norm["ci95"]
        teacher_sr = result["teacher"]["metrics"]["success_rate"]["mean"]
        out.append(
            f"| {label} / teacher | {result['split']} | all | {norm['n']} | {norm['mean']:.3f} [{lo:.3f}, {hi:.3f}] "
            f"(teacher SR {teacher_sr:.3f}) | | | |"
        )
    return out


if __name__ == "__main__":
    header = (
        "| policy | split | family | episodes | SR [95% CI] | SPL | collision failures [95% CI] | time-outs [95% CI] |"
    )
    print(header)
    print("|---|---|---|---|---|---|---|---|")
    for arg in sys.argv[1:]:
        label, path = arg.split("=", 1)
        print("\n".join(rows(label, path)))
