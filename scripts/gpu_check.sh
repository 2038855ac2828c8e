#!/usr/bin/env bash
# One-GPU check of the Isaac Lab engine (not run in CI; needs CUDA): builds anymal-ladder and kuka-allegro-grasp at
# 1,024 and 4,096 envs, prints env-steps/s with and without their depth cameras and the peak GPU memory, then trains a short
# privileged teacher with Isaac Lab's own trainer. Target (issue #12): >= 20,000 env-steps/s with depth on one
# H100/H200. Usage: bash scripts/gpu_check.sh [OUT_DIR]
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo_root/scripts/isaaclab_venv.sh"
cd "$repo_root"
out="${1:-runs/gpu_check}"
mkdir -p "$out"
py=.venv-isaaclab/bin/python
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
for task in anymal-ladder kuka-allegro-grasp; do
for n in 1024 4096; do
  for depth in on off; do
    # one simulation per process: each configuration in its own process, peak memory sampled alongside
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$out/mem_${task}_${n}_${depth}.txt" &
    smi=$!
    $py -m depthbench bench env "$task" --engine isaaclab --device cuda --num-envs "$n" --steps 200 \
      --depth "$depth" --json | tee "$out/bench_${task}_${n}_${depth}.json"
    kill "$smi"
    echo "peak GPU memory (MiB), $task, $n envs, depth $depth: $(sort -n "$out/mem_${task}_${n}_${depth}.txt" | tail -1)"
  done
done
done
# Short privileged teacher through Isaac Lab's trainer (rsl-rl config from configs/agents/anymal-ladder.yaml).
$py -m isaaclab train --rl_library rsl_rl --task Isaac-Depthbench-AnymalLadder-Direct-v0 --num_envs 4096 \
  --max_iterations 50 --device cuda:0 2>&1 | tail -20 | tee "$out/teacher.txt"
