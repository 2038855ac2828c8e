#!/usr/bin/env bash
# The README's main command: set up .venv if needed, then run depthbench's main job, the quick CPU PointNav benchmark:
# scratch-cnn vs frozen DeFM-EfficientNet-B0 on procedural scenes (cpu-smoke preset, a few minutes on 2 cores),
# evaluated clean and under Kinect v1 noise, with the results table printed and a report in runs/benchmark-pointnav.
# DeFM weights are used when they can be found (DEPTHBENCH_WEIGHTS_DIR/defm_efficientnet_b0.pth or the Hugging Face
# hub); otherwise the DeFM encoder runs with random weights and every output labels it "(RANDOM INIT)".
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
weights=$(python - <<'PY'
from depthbench.encoders.registry import get_encoder_info
from depthbench.encoders.weights import resolve_weights
from depthbench.errors import DepthbenchError

try:
    resolve_weights(get_encoder_info("defm-efficientnet-b0"), "defm")
    print("defm")
except DepthbenchError:
    print("none")
PY
)
if [ "$weights" = none ]; then
  echo "DeFM weights not found (set DEPTHBENCH_WEIGHTS_DIR or allow a Hugging Face download):" \
    "defm-efficientnet-b0 runs with RANDOM INIT weights and is labelled so; these are not DeFM results."
fi
python -m depthbench demo "$@"
python -m depthbench ablate pointnav --encoders scratch-cnn,defm-efficientnet-b0 --weights "$weights" \
  --preset cpu-smoke --seeds 1 --eval-noise kinect-v1 --out runs/benchmark-pointnav
