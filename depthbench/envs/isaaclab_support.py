"""Isaac Lab 3 (kit-less, Newton physics) support shared by the tasks' Isaac Lab bindings.

Isaac Lab 3.0 pins Python 3.12, torch 2.11 and mujoco 3.12, so it lives in its own environment, `.venv-isaaclab`
(`bash scripts/isaaclab_venv.sh`); asking for the isaaclab engine anywhere else is one clear error.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from depthbench.errors import DepthbenchError

SETUP_COMMAND = "bash scripts/isaaclab_venv.sh"


def require_isaaclab() -> None:
    """Raise one clear line naming the set-up command when Isaac Lab is not importable here."""
    if importlib.util.find_spec("isaaclab") is None:
        raise DepthbenchError(
            "the isaaclab engine needs Isaac Lab 3, which lives in its own environment: run "
            f"`{SETUP_COMMAND}`, then run depthbench with .venv-isaaclab/bin/python -m depthbench ..."
        )


def usd_cache_dir() -> Path:
    """Where converted robot USDs live: $DEPTHBENCH_USD_CACHE, else ~/.cache/depthbench/usd (never the repo)."""
    return Path(os.environ.get("DEPTHBENCH_USD_CACHE", Path.home() / ".cache" / "depthbench" / "usd"))


def collision_only_mjcf(xml: Path, out: Path) -> Path:
    """Write `xml` without its visual-only geoms (contype = conaffinity = 0 by class, as in Menagerie), meshes,
    textures, materials and lights: the robot as its collision shapes, which the MuJoCo binding's depth rays see too
    (it discards the visual meshes). Explicit <inertial> elements keep every body's mass."""
    tree = ElementTree.parse(xml)
    root = tree.getroot()
    visual_classes = {
        d.get("class")
        for d in root.iter("default")
        if any(g.get("contype") == "0" and g.get("conaffinity") == "0" for g in d.findall("geom"))
    }
    # Nested defaults inherit their parent's visual flags (e.g. Menagerie's visual_zflip under visual).
    for parent in root.iter("default"):
        if parent.get("class") in visual_classes:
            visual_classes |= {d.get("class") for d in parent.iter("default")}
    for parent in root.iter():
        for child in list(parent):
            visual = child.tag == "geom" and (
                child.get("class") in visual_classes
                or (child.get("contype") == "0" and child.get("conaffinity") == "0")
            )
            if (
                visual
                or child.tag == "light"
                or (parent.tag == "asset" and child.tag in ("mesh", "texture", "material"))
            ):
                parent.remove(child)
    for geom in root.iter("geom"):
        geom.attrib.pop("material", None)
    out.parent.mkdir(parents=True, exist_ok=True)
    tree.write(out)
    return out


def menagerie_usd(robot: str, entry: str) -> Path:
    """USD of a Menagerie robot's collision shapes (`mjcf_usd`); offline when MENAGERIE_ROOT holds the model."""
    from depthbench.envs.menagerie import robot_xml

    return mjcf_usd(robot_xml(robot, entry), f"{robot}_{entry}")


def mjcf_usd(xml: Path, name: str, *, fix_base: bool = False) -> Path:
    """USD of the collision shapes of MJCF `xml`, converted once with Isaac Lab's MjcfConverter (no Isaac Sim) and
    cached under `usd_cache_dir()` by the hash of the MJCF; `fix_base` welds the root body to the world."""
    digest = hashlib.sha256(xml.read_bytes() + (b"fix_base" if fix_base else b"")).hexdigest()[:16]
    folder = usd_cache_dir() / f"{name}_{digest}"
    stem = f"{xml.stem}_collision"
    usd = folder / "usd" / stem / f"{stem}.usda"
    if usd.is_file():
        return usd
    from isaaclab.sim.converters import MjcfConverter, MjcfConverterCfg

    stripped = collision_only_mjcf(xml, folder / f"{stem}.xml")
    converter = MjcfConverter(
        MjcfConverterCfg(asset_path=str(stripped), usd_dir=str(folder / "usd"), fix_base=fix_base)
    )
    if Path(converter.usd_path) != usd or not usd.is_file():
        raise DepthbenchError(f"MJCF->USD conversion of '{name}' wrote {converter.usd_path}, expected {usd}")
    return usd


def xyzw(quat_wxyz: tuple[float, ...]) -> tuple[float, float, float, float]:
    """Isaac Lab 3's quaternion order (x, y, z, w) of a MuJoCo-order (w, x, y, z) quaternion."""
    w, x, y, z = quat_wxyz
    return (x, y, z, w)


def matrix_xyzw(quat: Any) -> Any:
    """(N, 3, 3) rotation matrices of (N, 4) xyzw quaternions (torch)."""
    import torch

    x, y, z, w = quat.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(-1, 3, 3)


def camera_cfg(camera: Any, prim_path: str, max_m: float) -> Any:
    """Isaac Lab CameraCfg of depthbench DepthCamera `camera` at `prim_path` (its pose in the parent prim's frame,
    Isaac Lab's "world" convention = the camera's mount frame), planar depth by the Newton Warp renderer."""
    import math

    import isaaclab.sim as sim_utils
    from isaaclab.sensors import CameraCfg
    from isaaclab_newton.renderers import NewtonWarpRendererCfg
    from scipy.spatial.transform import Rotation

    rot = Rotation.from_matrix(camera.mount_matrix()).as_quat()  # xyzw, Isaac Lab 3's order
    vertical_aperture = 2.0 * math.tan(math.radians(camera.fovy_deg) / 2)  # focal length 1: apertures are tangents
    return CameraCfg(
        prim_path=prim_path,
        width=camera.width,
        height=camera.height,
        data_types=["distance_to_image_plane"],
        update_latest_camera_pose=True,
        offset=CameraCfg.OffsetCfg(pos=camera.pos, rot=tuple(float(v) for v in rot), convention="world"),
        spawn=sim_utils.PinholeCameraCfg(
            focal_length=1.0,
            vertical_aperture=vertical_aperture,
            horizontal_aperture=vertical_aperture * camera.width / camera.height,
            clipping_range=(0.01, max_m),
        ),
        renderer_cfg=NewtonWarpRendererCfg(),
    )


def depth_image(camera: Any, max_m: float) -> Any:
    """(N, H, W) planar depth in metres of an Isaac Lab camera, 0 = no return or beyond `max_m` (depthbench's
    convention; the Newton Warp renderer writes 0 for no hit)."""
    import torch

    camera.update(0.0, force_recompute=True)
    image = camera.data.output["distance_to_image_plane"].torch[..., 0]
    return torch.where(torch.isfinite(image) & (image > 0) & (image <= max_m), image, 0.0)


def refresh_bounds(solver: Any) -> None:
    """MuJoCo-Warp's per-world geom bounding radii and boxes after shape sizes changed: Newton's SHAPE_PROPERTIES
    notification updates geom_size but not geom_rbound / geom_aabb, which the broadphase culls with (a bound from
    the build would drop contacts of a shape grown since, or waste them). MuJoCo's definitions per primitive: box
    |half sizes| and (hx, hy, hz); cylinder sqrt(r^2 + h^2) and (r, r, h); sphere r; capsule r + h and (r, r, r + h).
    Other geoms (meshes) keep their build-time bounds."""
    import numpy as np
    import warp as wp

    mjw = solver.mjw_model
    size = mjw.geom_size.numpy()  # (worlds, ngeom, 3)
    rbound = mjw.geom_rbound.numpy()
    aabb = mjw.geom_aabb.numpy()  # (worlds or 1, ngeom, 2, 3): centre, half size in the geom frame
    if aabb.shape[0] != size.shape[0]:
        aabb = np.repeat(aabb[:1], size.shape[0], axis=0)
    geom_type = np.asarray(solver.mj_model.geom_type)
    sphere, capsule, cylinder, box = 2, 3, 5, 6  # mjtGeom
    for kind, radius, half in (
        (box, lambda s: np.linalg.norm(s, axis=-1), lambda s: s),
        (cylinder, lambda s: np.hypot(s[..., 0], s[..., 1]), lambda s: s[..., [0, 0, 1]]),
        (sphere, lambda s: s[..., 0], lambda s: s[..., [0, 0, 0]]),
        (capsule, lambda s: s[..., 0] + s[..., 1], lambda s: s[..., [0, 0, 0]] + s[..., 1:2] * [0, 0, 1]),
    ):
        mask = geom_type == kind
        rbound[:, mask] = radius(size[:, mask])
        aabb[:, mask, 0] = 0.0
        aabb[:, mask, 1] = half(size[:, mask])
    mjw.geom_rbound.assign(rbound)
    if mjw.geom_aabb.shape[0] == aabb.shape[0]:
        mjw.geom_aabb.assign(aabb)
    else:  # one box shared by every world at build time: give each world its own (MuJoCo-Warp indexes by world)
        mjw.geom_aabb = wp.array(aabb, dtype=wp.vec3, device=mjw.geom_aabb.device)


def show_to_cameras(manager: Any, visible: Any, hidden: Any = None) -> None:
    """Make the Newton shapes where the boolean mask `visible` holds visible to the renderer and those in `hidden`
    invisible, then rebuild the renderer's shape BVH (its shape set is fixed when the BVH is built). MJCF->USD
    conversion marks collision shapes invisible; depthbench's robots are their collision shapes, which the MuJoCo
    binding's rays see."""
    from newton import ShapeFlags

    model = manager.get_model()
    flags = model.shape_flags.numpy()
    flags[visible] |= int(ShapeFlags.VISIBLE)
    if hidden is not None:
        flags[hidden] &= ~int(ShapeFlags.VISIBLE)
    model.shape_flags.assign(flags)
    model.bvh_build_shapes(manager.get_state_0())


def DepthbenchVecEnv(env: Any) -> Any:  # noqa: N802 - a class factory: isaaclab_rl is importable only here
    """Isaac Lab's RslRlVecEnvWrapper around a depthbench DirectRLEnv, with depthbench's VecEnv reset signature
    (`reset(seed) -> observations`) and its `finished_episodes` / `log` extras passed through."""
    from isaaclab_rl.rsl_rl import RslRlVecEnvWrapper

    class _VecEnv(RslRlVecEnvWrapper):
        def reset(self, seed: int | None = None) -> Any:  # noqa: ANN401
            obs, _ = self.env.reset(seed=seed)
            from tensordict import TensorDict

            return TensorDict(obs, batch_size=[self.num_envs])

    return _VecEnv(env)


def make_vec_env(env_class: Any, cfg_isaac: Any, seed: int) -> Any:
    """A built and reset task as an rsl-rl VecEnv (reset(seed) returns the observations, as the MuJoCo bindings')."""
    cfg_isaac.seed = seed
    env = env_class(cfg_isaac)
    env.reset()
    return DepthbenchVecEnv(env)
