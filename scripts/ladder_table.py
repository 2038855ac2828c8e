"""Markdown tables for docs/ladder.md, straight from anymal-ladder evaluation JSONs and a run's progress.jsonl.

Usage:
  python scripts/ladder_table.py grid PATH.json       # SR and mean climbed metres per (angle, rung radius) cell
  python scripts/ladder_table.py curve RUN_DIR [N]     # curriculum level, climbed m, SR, return every N iterations
"""

import json
import sys
from pathlib import Path


def grid(path: str) -> list[str]:
    result = json.loads(Path(path).read_text())
    cells = {(g["key"]["angle_deg"], g["key"]["rung_radius_mm"]): g for g in result["groups"]}
    angles = sorted({a for a, _ in cells})
    radii = sorted({r for _, r in cells})
    m = result["metrics"]
    lo, hi = m["success_rate"]["ci95"]
    out = [
        f"{result['split']} split, {result['episodes']} episodes, eval seed {result['eval_seed']}: SR "
        f"{m['success_rate']['mean']:.3f} [{lo:.3f}, {hi:.3f}], climbed {m['climbed_m']['mean']:.3f} m "
        f"[{m['climbed_m']['ci95'][0]:.3f}, {m['climbed_m']['ci95'][1]:.3f}]. Cells: SR / mean climbed m "
        "(episodes per cell in brackets).",
        "",
        "| angle \\ rung radius | " + " | ".join(f"{r:g} mm" for r in radii) + " |",
        "|---|" + "---|" * len(radii),
    ]
    for a in angles:
        row = []
        for r in radii:
            g = cells.get((a, r))
            if g is None:
                row.append("")
                continue
            sr, climbed = g["metrics"]["success_rate"]["mean"], g["metrics"]["climbed_m"]["mean"]
            row.append(f"{sr:.2f} / {climbed:.2f} ({g['episodes']})")
        out.append(f"| {a:g} deg | " + " | ".join(row) + " |")
    return out


def curve(run_dir: str, every: int) -> list[str]:
    rows = [json.loads(line) for line in (Path(run_dir) / "progress.jsonl").read_text().splitlines() if line.strip()]
    out = [
        "| iterations | env steps | episodes | mean level | climbed m | train SR | mean return |",
        "|---|---|---|---|---|---|---|",
    ]
    for start in range(0, len(rows), every):
        block = [r for r in rows[start : start + every] if r.get("episodes")]
        n = sum(r["episodes"] for r in block)
        level, climbed, success = (
            sum(r[key] * r["episodes"] for r in block) / n if n else float("nan")
            for key in ("curriculum_level", "climbed_m", "train_success_rate")
        )
        last = rows[min(start + every, len(rows)) - 1]
        out.append(
            f"| {rows[start]['iteration']}-{last['iteration']} | {last['env_steps']} | {n} | {level:.2f} "
            f"| {climbed:.3f} | {success:.3f} | {last.get('mean_reward', float('nan')):.2f} |"
        )
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "grid":
        print("\n".join(grid(sys.argv[2])))
    elif len(sys.argv) >= 3 and sys.argv[1] == "curve":
        print("\n".join(curve(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 25)))
    else:
        raise SystemExit(__doc__)
