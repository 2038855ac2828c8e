"""Batched, seeded depth-sensor noise models and sensor profiles.

`build_noise(spec)` turns "speckle(p=0.02)+dropout(p=0.05)", "kinect-v1" or "clean" into a `NoiseModel`:
`model(depth_m (N, C, H, W), generator) -> depth_m` of the same shape and dtype, 0 = invalid, never NaN.
`list_noise_models()` lists every model (with parameter defaults) and profile (with sources).
"""

from depthbench.noise import digitize, kinect, missing, profiles, redwood, stereo, temporal, value  # noqa: F401
from depthbench.noise.base import NoiseModel, Pipeline
from depthbench.noise.registry import NoiseInfo, build_noise, list_noise_models

# Default train-time augmentation (the DeFM recipe, Patel et al. 2026: speckle + dropout, plus missing patches):
# dense 1% multiplicative noise correlated over ~2 px (roughly active-stereo depth noise at 1-2 m: D435 < 2% at
# 2 m), blob holes on 1% of the image, 5% pixel dropout. It stays under 10% of an env step (README, Benchmarks);
# edges/flying pixels and z^2 axial noise cost more and live in the evaluation profiles.
DEFAULT_TRAIN_AUGMENTATION = "speckle(p=1,std=0.01,size_px=2)+holes(p=0.01,size_px=3)+dropout(p=0.05)"

__all__ = [
    "DEFAULT_TRAIN_AUGMENTATION",
    "NoiseInfo",
    "NoiseModel",
    "Pipeline",
    "build_noise",
    "list_noise_models",
]
