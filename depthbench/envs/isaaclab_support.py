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
    """USD of a Menagerie robot's collision shapes, converted once with Isaac Lab's MjcfConverter (no Isaac Sim)
    and cached by the hash of the source MJCF; offline when MENAGERIE_ROOT holds the model."""
    from depthbench.envs.menagerie import robot_xml

    xml = robot_xml(robot, entry)
    digest = hashlib.sha256(xml.read_bytes()).hexdigest()[:16]
    folder = usd_cache_dir() / f"{robot}_{entry}_{digest}"
    name = f"{entry}_collision"
    usd = folder / "usd" / name / f"{name}.usda"
    if usd.is_file():
        return usd
    from isaaclab.sim.converters import MjcfConverter, MjcfConverterCfg

    stripped = collision_only_mjcf(xml, folder / f"{name}.xml")
    converter = MjcfConverter(MjcfConverterCfg(asset_path=str(stripped), usd_dir=str(folder / "usd"), fix_base=False))
    if Path(converter.usd_path) != usd or not usd.is_file():
        raise DepthbenchError(f"MJCF->USD conversion of '{robot}' wrote {converter.usd_path}, expected {usd}")
    return usd


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
