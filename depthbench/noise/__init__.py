"""Batched, seeded depth-sensor noise models and sensor profiles.

`build_noise(spec)` turns "speckle(p=0.02)+dropout(p=0.05)", "kinect-v1" or "clean" into a `NoiseModel`:
`model(depth_m (N, C, H, W), generator) -> depth_m` of the same shape and dtype, 0 = invalid, never NaN.
`list_noise_models()` lists every model (with parameter defaults) and profile (with sources).
"""

from depthbench.noise import digitize, kinect, missing, profiles, redwood, stereo, temporal, value  # noqa: F401
from depthbench.noise.base import NoiseModel, Pipeline
from depthbench.noise.registry import NoiseInfo, build_noise, list_noise_models

# Default train-time augmentation: the DeFM recipe (speckle + dropout, Patel et al. 2026) plus depth-dependent axial
# noise, missing patches and flying pixels at edges; cheap enough to run on every env step (see README Benchmarks).
DEFAULT_TRAIN_AUGMENTATION = (
    "axial(a_m=0.001,b_per_m=0.002)+speckle(p=0.02,std=0.05)+edge(jump=0.05,p_invalid=0.5)+holes(p=0.01)"
    "+dropout(p=0.05)"
)

__all__ = [
    "DEFAULT_TRAIN_AUGMENTATION",
    "NoiseInfo",
    "NoiseModel",
    "Pipeline",
    "build_noise",
    "list_noise_models",
]
