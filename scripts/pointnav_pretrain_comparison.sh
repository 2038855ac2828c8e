#!/usr/bin/env bash
# One arm x seed of the pointnav pretraining comparison (docs/pretrain.md, "Status of the evidence"):
#   scripts/pointnav_pretrain_comparison.sh ARM SEED [ITERATIONS] [EPISODES]
# ARM: pretrained (vit-t14, weights runs/pt-vit/encoder.pth, frozen) | random (vit-t14 random init, frozen) |
#      scratch (scratch-cnn, trained end to end). The same preset, iteration budget and test episodes for every arm.
# Trains into runs/pretrain-comparison/ARM-sSEED and writes the test evaluation (+ the run's manifest) to
# results/pointnav/pretrain-comparison/ARM-sSEED/, which `depthbench leaderboard results` reads. Machine load
# (uptime) and wall time of each stage go to the run's timing.log.
set -euo pipefail
arm=${1:?usage: $0 pretrained|random|scratch SEED [ITERATIONS] [EPISODES]}
seed=${2:?seed}
iterations=${3:-50}
episodes=${4:-200}
weights=${PRETRAINED_WEIGHTS:-runs/pt-vit/encoder.pth}
case "$arm" in
pretrained) encoder=(--encoder vit-t14 --weights "$weights") ;;
random) encoder=(--encoder vit-t14 --weights none) ;;
scratch) encoder=(--encoder scratch-cnn) ;;
*) echo "unknown arm '$arm': pretrained, random or scratch" >&2 && exit 2 ;;
esac
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
db=(nice -n "${NICE:-5}" "${PYTHON:-python}" -m depthbench)
run=runs/pretrain-comparison/$arm-s$seed
result=results/pointnav/pretrain-comparison/$arm-s$seed
mkdir -p "$run" "$result"
log=$run/timing.log
stamp() { echo "$1 $(date -u +%FT%TZ) $(uptime)" >>"$log"; }
stamp train-start
"${db[@]}" train pointnav "${encoder[@]}" --preset cpu-small --iterations "$iterations" --seed "$seed" \
    --out "$run" --no-progress
stamp train-end
"${db[@]}" eval pointnav --checkpoint "$run" --split test --episodes "$episodes" --seed 0 \
    --out "$result/clean-test.json" --no-progress
stamp eval-end
cp "$run/manifest.json" "$result/manifest.json"
cp "$log" "$result/timing.log"
