"""Plot a `depthbench pretrain` run's losses (progress.jsonl) to a PNG: the figure in docs/pretrain.md.

python scripts/pretrain_loss_curve.py runs/pt-vit docs/pretrain_loss_curve.png [runs/pt-vit-ls1e-5]

The right panel shows the DINO term against ln(prototypes), the level of a uniform teacher, with the teacher's
entropies per image and of the batch mean where the run logged them; a second run (e.g. a collapsed one) is drawn
there dashed for comparison.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _run(path: str) -> tuple[list[dict], dict]:
    rows = [json.loads(line) for line in (Path(path) / "progress.jsonl").read_text().splitlines() if line.strip()]
    return rows, json.loads((Path(path) / "manifest.json").read_text())


def main(run: str, png: str, baseline: str | None = None) -> None:
    rows, manifest = _run(run)
    steps = [row["step"] for row in rows]
    fig, (losses, lr, dino) = plt.subplots(1, 3, figsize=(15, 3.8))
    for key in ("loss", "dino", "ibot", "koleo"):
        losses.plot(steps, [row[key] for row in rows], label=key, lw=1)
    losses.set(xlabel="step", ylabel="loss", title=f"{manifest['arch']} on {manifest['data']}")
    losses.legend()
    lr.plot(steps, [row["lr"] for row in rows], label="learning rate")
    lr.set(xlabel="step", ylabel="learning rate", title=f"{len(rows)} of {manifest['config']['steps']} steps")
    twin = lr.twinx()
    twin.plot(steps, [row["teacher_temp"] for row in rows], color="C1", label="teacher temperature")
    twin.set_ylabel("teacher temperature")
    uniform = math.log(manifest["config"]["prototypes"])
    dino.axhline(uniform, color="k", lw=0.8, ls=":", label=f"ln {manifest['config']['prototypes']} (uniform)")
    dino.plot(steps, [row["dino"] for row in rows], lw=1, label="DINO loss")
    if "teacher_entropy" in rows[0]:
        dino.plot(steps, [row["teacher_entropy"] for row in rows], lw=1, label="teacher entropy per image")
        dino.plot(steps, [row["teacher_batch_entropy"] for row in rows], lw=1, label="entropy of batch mean")
    if baseline:
        base_rows, base_manifest = _run(baseline)
        label = (
            f"DINO loss, {Path(baseline).name} (LayerScale {base_manifest['config'].get('layerscale_init', 1e-5):g})"
        )
        dino.plot([r["step"] for r in base_rows], [r["dino"] for r in base_rows], "--", lw=1, label=label)
    dino.set(xlabel="step", ylabel="nats", title="collapse check (DINO, CLS)")
    dino.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"{png}: {len(rows)} steps, loss {rows[0]['loss']:.3f} -> {rows[-1]['loss']:.3f}")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: python scripts/pretrain_loss_curve.py RUN_DIR OUT.png [BASELINE_RUN_DIR]")
    main(*sys.argv[1:])
