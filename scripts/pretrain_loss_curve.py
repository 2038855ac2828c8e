"""Plot a `depthbench pretrain` run's losses (progress.jsonl) to a PNG: the figure in docs/pretrain.md.

python scripts/pretrain_loss_curve.py runs/pt-vit docs/pretrain_loss_curve.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(run: str, png: str) -> None:
    rows = [json.loads(line) for line in (Path(run) / "progress.jsonl").read_text().splitlines() if line.strip()]
    manifest = json.loads((Path(run) / "manifest.json").read_text())
    steps = [row["step"] for row in rows]
    fig, (losses, lr) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key in ("loss", "dino", "ibot", "koleo"):
        losses.plot(steps, [row[key] for row in rows], label=key, lw=1)
    losses.set(xlabel="step", ylabel="loss", title=f"{manifest['arch']} on {manifest['data']}")
    losses.legend()
    lr.plot(steps, [row["lr"] for row in rows], label="learning rate")
    lr.set(xlabel="step", ylabel="learning rate", title=f"{len(rows)} of {manifest['config']['steps']} steps")
    twin = lr.twinx()
    twin.plot(steps, [row["teacher_temp"] for row in rows], color="C1", label="teacher temperature")
    twin.set_ylabel("teacher temperature")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"{png}: {len(rows)} steps, loss {rows[0]['loss']:.3f} -> {rows[-1]['loss']:.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/pretrain_loss_curve.py RUN_DIR OUT.png")
    main(sys.argv[1], sys.argv[2])
