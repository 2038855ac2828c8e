"""Engine-free depth camera definition, shared by every engine's binding (MuJoCo rangefinders, Isaac Lab cameras).

depthbench's depth convention on every engine: planar depth (distance from the camera plane along the optical
axis) in metres, 0 where a ray has no return or the return lies beyond `max_range_m`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from depthbench.errors import DepthbenchError


@dataclass(frozen=True)
class DepthCamera:
    """A pinhole depth camera fixed to `body`: pose in that body's frame, looking from `pos` towards `lookat`.

    `up` is the body-frame direction that appears upwards in the image; `fovy_deg` the vertical field of view.
    Returns beyond `max_range_m` read 0 (no return), as on a real sensor.
    """

    name: str
    pos: tuple[float, float, float]
    lookat: tuple[float, float, float]
    fovy_deg: float = 60.0
    width: int = 64
    height: int = 64
    body: str = "world"
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    max_range_m: float = 10.0

    def validate(self) -> None:
        if self.width < 1 or self.height < 1:
            raise DepthbenchError(f"camera '{self.name}': resolution {self.width}x{self.height} must be positive")
        if not 0.0 < self.fovy_deg < 180.0:
            raise DepthbenchError(f"camera '{self.name}': fovy_deg={self.fovy_deg} must be in (0, 180)")
        if self.max_range_m <= 0:
            raise DepthbenchError(f"camera '{self.name}': max_range_m={self.max_range_m} must be positive")
        forward = np.subtract(self.lookat, self.pos)
        if np.linalg.norm(forward) < 1e-9 or np.linalg.norm(np.cross(forward, self.up)) < 1e-9:
            raise DepthbenchError(
                f"camera '{self.name}': lookat must differ from pos and not be parallel to up; got pos={self.pos}, "
                f"lookat={self.lookat}, up={self.up}"
            )

    def xyaxes(self) -> np.ndarray:
        """MuJoCo camera frame: x = image right, y = image up, the camera looks along -z."""
        forward = np.subtract(self.lookat, self.pos).astype(float)
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, self.up)
        right /= np.linalg.norm(right)
        return np.concatenate([right, np.cross(right, forward)])

    def mount_matrix(self) -> np.ndarray:
        """(3, 3) rotation body <- camera mount frame, columns: x = optical axis, y = image left, z = image up
        (Isaac Lab's "world" camera convention)."""
        right, up = self.xyaxes().reshape(2, 3)
        forward = np.cross(up, right)
        return np.column_stack([forward, -right, up])

    def focal_px(self) -> float:
        """Focal length in pixels (square pixels: the horizontal field of view follows from the aspect ratio)."""
        return (self.height / 2) / float(np.tan(np.radians(self.fovy_deg) / 2))


def camera_from_mount(
    name: str,
    body: str,
    pos: Sequence[float],
    mount_quat_wxyz: Sequence[float],
    *,
    fovy_deg: float,
    width: int,
    height: int,
    max_range_m: float,
) -> DepthCamera:
    """A camera at a mount frame given as a position and a wxyz quaternion (x = optical axis, z = image up)."""
    axes = Rotation.from_quat(np.asarray(mount_quat_wxyz, float), scalar_first=True).as_matrix()
    return DepthCamera(
        name=name,
        body=body,
        pos=tuple(float(v) for v in pos),
        lookat=tuple(float(v) for v in np.add(pos, axes[:, 0])),
        up=tuple(float(v) for v in axes[:, 2]),
        fovy_deg=fovy_deg,
        width=width,
        height=height,
        max_range_m=max_range_m,
    )
