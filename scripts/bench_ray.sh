#!/usr/bin/env bash
# Benchmark quoted in docs/ray.md (not a test): the same 4-cell cpu-smoke ablation (2 encoders x 2 seeds), first with
# the default sequential launcher, then with --launcher ray on a private 2-CPU Ray instance (2 cells at a time, one
# torch thread each), wall times in one run. Every cell uses one torch thread on both launchers (OMP_NUM_THREADS=1), so
# both matrices must give the same table, bit for bit.
# Usage: scripts/bench_ray.sh [OUT_DIR]   (PYTHON=/path/to/python to pick the interpreter)
set -euo pipefail
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
out="${1:-runs/bench-ray}"
python="${PYTHON:-python}"
rm -rf "$out"
mkdir -p "$out"
echo "machine: $(nproc --all) cores (OMP_NUM_THREADS=$OMP_NUM_THREADS), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
matrix=(ablate pointnav --encoders scratch-cnn,defm-regnet-y-400mf --weights none --seeds 2 --preset cpu-smoke
  --no-report --no-progress)
run() {
  local name="$1"
  shift
  echo "== $name: load $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"
  local start=$SECONDS
  "$python" -m depthbench "${matrix[@]}" --out "$out/$name" "$@" >"$out/$name.log" 2>&1
  echo "$name: $((SECONDS - start)) s wall"
}
run sequential
run ray --launcher ray --cpus-per-cell 1
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$python" - "$out" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
rows = [json.loads((out / name / "ablation.json").read_text())["rows"] for name in ("sequential", "ray")]
same = rows[0] == rows[1]
print(f"tables identical: {same}")
if not same:  # e.g. OMP_NUM_THREADS > 1 for the sequential run: float sums round differently, actions differ
    for a, b in zip(*rows, strict=True):
        print(a["encoder_label"], a["eval_noise"], a["metrics"]["success_rate"]["mean"], b["metrics"]["success_rate"]["mean"])
PY
