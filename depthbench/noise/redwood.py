"""Redwood depth noise: the PrimeSense model habitat-sim ships as `RedwoodDepthNoiseModel` (PointNav challenge
configs), re-implemented batched in torch.

Structure (Choi, Zhou & Koltun 2015, "Robust reconstruction of indoor scenes", CVPR; redwood-data.org simdepth.py;
as documented in habitat-sim's `habitat_sim.sensors.noise_models.RedwoodDepthNoiseModel`):
1. each pixel reads a neighbour: position + N(0, (0.25 * multiplier)^2) px, rounded, on a 2x-downsampled grid;
2. depth >= 10 m returns 0;
3. distortion: z / f, where f is bilinear in depth between bins centred at 1, 3, 5, 7, 9 m and piecewise constant
   over 8 x 6 pixel cells of a 640 x 480 sensor, from an 80 x 80 x 5 table measured on a real sensor (CLAMS,
   Teichman et al. 2013);
4. disparity noise and quantization: z' = 35.130 * 8 / round(8 * (35.130 / z + N(0, (multiplier / 36)^2))).

The measured table is not redistributed with depthbench (and not reachable offline). `table=identity` (the default)
uses f = 1 everywhere: steps 1, 2 and 4 only, i.e. NO systematic distortion. To use the real table, point `table` at
habitat-sim's `habitat_sim/sensors/noise_models/data/redwood-depth-dist-model.npy` (80 * 80 * 5 = 32000 floats):
`redwood(table=/path/to/redwood-depth-dist-model.npy)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from depthbench.errors import DepthbenchError
from depthbench.files import read_npy
from depthbench.noise.base import NoiseModel, randn
from depthbench.noise.registry import register_noise

TABLE_SHAPE = (80, 80, 5)  # (480 / 6 rows, 640 / 8 columns, depth bins at 1, 3, 5, 7, 9 m)
DISPARITY_CONSTANT = 35.130  # metres * disparity units, PrimeSense (simdepth.py)


def load_redwood_table(table: str) -> torch.Tensor:
    """The distortion table: ones for 'identity', else a .npy of 32000 factors reshaped to (80, 80, 5)."""
    if table == "identity":
        return torch.ones(TABLE_SHAPE)
    path = Path(table).expanduser()
    if not path.is_file():
        raise DepthbenchError(
            f"redwood distortion table '{table}' not found; copy habitat-sim's "
            "habitat_sim/sensors/noise_models/data/redwood-depth-dist-model.npy and pass table=PATH, "
            "or use table=identity (no distortion)"
        )
    values = read_npy(path, "redwood distortion table")
    if values.size != np.prod(TABLE_SHAPE) or not np.issubdtype(values.dtype, np.number):
        raise DepthbenchError(
            f"redwood distortion table '{table}' has {values.size} {values.dtype} values; expected 32000 numbers "
            "(80 x 80 x 5)"
        )
    return torch.from_numpy(values.astype(np.float32).reshape(TABLE_SHAPE))


@register_noise
@dataclass(repr=False)
class Redwood(NoiseModel):
    """habitat-sim's Redwood PrimeSense model; `multiplier` scales jitter and disparity noise (habitat's
    noise_multiplier), `table` is 'identity' (default, no distortion) or a path to the measured table (.npy)."""

    multiplier: float = 1.0
    table: str = "identity"

    name = "redwood"
    summary = "habitat-sim Redwood PrimeSense model (jitter, 10 m cut-off, distortion table, disparity noise)"
    source = "Choi, Zhou & Koltun 2015; habitat-sim RedwoodDepthNoiseModel; table=identity unless a path is given"

    def validate(self) -> None:
        self._require(self.multiplier >= 0, "multiplier must be >= 0")
        self._table = load_redwood_table(self.table)

    def apply(self, depth_m: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        # Pixel and table indices are small integers, computed in floating point (exact) and cast once: int64
        # element-wise ops cost several times more on CPU.
        n, c, h, w = depth_m.shape
        dtype, device = depth_m.dtype, depth_m.device
        jitter = randn(depth_m, generator, (2, n, c, h, w)) * (0.25 * self.multiplier)
        rows = torch.arange(h, device=device, dtype=dtype).view(1, 1, h, 1)
        cols = torch.arange(w, device=device, dtype=dtype).view(1, 1, 1, w)
        y = torch.round((rows + jitter[0]).clamp(0, h - 1))
        x = torch.round((cols + jitter[1]).clamp(0, w - 1))
        index = (torch.floor(y / 2) * (2 * w) + torch.floor(x / 2) * 2).long()  # read the 2x-downsampled grid
        z = depth_m.view(n, c, h * w).gather(2, index.view(n, c, h * w)).view(n, c, h, w)

        # Distortion factor: table cell from the 640 x 480 sensor position, linear between depth bins at 1, 3, ... m.
        table = self._table.to(device=device, dtype=dtype).view(-1)
        cell_row = torch.floor(torch.round(y * (479 / max(h - 1, 1))) / 6)
        cell_col = torch.floor(torch.round(x * (639 / max(w - 1, 1))) / 8)
        cell = (cell_row * TABLE_SHAPE[1] + cell_col) * TABLE_SHAPE[2]
        upper = torch.floor((z + 1) / 2)
        weight = (z + 1) / 2 - upper  # = (z - (2 * lower + 1)) / 2 with lower = upper - 1
        f_lower = table.take((cell + (upper - 1).clamp(0, 4)).long())
        f_upper = table.take((cell + upper.clamp(0, 4)).long())
        factor = torch.lerp(f_lower, f_upper, weight)
        usable = (z > 0) & (z < 10.0) & (factor >= 1e-5)
        undistorted = torch.where(usable, z / torch.where(usable, factor, 1), 1)

        disparity = DISPARITY_CONSTANT / undistorted + randn(depth_m, generator) * (self.multiplier / 36)
        steps = torch.round(disparity * 8)
        noisy = DISPARITY_CONSTANT * 8 / torch.where(steps > 1e-5, steps, 1)
        return torch.where(usable & (steps > 1e-5), noisy, torch.zeros((), dtype=dtype))
