"""Robot models from MuJoCo Menagerie through the `mujoco-menagerie` package (downloaded on first use, or read from
the local copy that MENAGERIE_ROOT points at). The one place tasks resolve robot files."""

from __future__ import annotations

import os
from pathlib import Path

import mujoco_menagerie

from depthbench.errors import DepthbenchError


def robot_xml(name: str, entry: str | None = None) -> Path:
    """Path of a Menagerie robot's MJCF (its default model or scene when `entry` is None).

    Fails with one line that names both ways to get the model: a download, or MENAGERIE_ROOT.
    """
    try:
        robot = mujoco_menagerie.get(name)
        xml = robot.xml(entry)
    except mujoco_menagerie.MenagerieError as exc:
        root = os.environ.get("MENAGERIE_ROOT")
        where = f"MENAGERIE_ROOT={root}" if root else "MENAGERIE_ROOT is unset"
        raise DepthbenchError(
            f"robot model '{name}' is not available ({exc}; {where}). Either allow a download from the Menagerie "
            f"host on first use, or set MENAGERIE_ROOT to a folder holding a '{name}' model folder."
        ) from None
    if not xml.is_file():
        raise DepthbenchError(f"robot model '{name}' has no file {xml}; check MENAGERIE_ROOT or the download cache")
    return xml


def local_robot_xml(name: str, entry: str | None = None) -> tuple[Path | None, str]:
    """(MJCF path or None, where it was looked for) without downloading anything: MENAGERIE_ROOT/<name> when that
    is set, else the package's download cache. For `depthbench doctor`."""
    cache = mujoco_menagerie.Cache()
    robot = mujoco_menagerie.get(name)
    if cache.root is not None:
        folder, where = cache.root / name, f"MENAGERIE_ROOT={cache.root}"
    elif cache.is_cached(robot):
        folder, where = cache.model_path(robot), f"download cache {cache.dir}"
    else:
        return None, f"not in the download cache {cache.dir} and MENAGERIE_ROOT is unset"
    xml = folder / robot.entry(entry).file
    return (xml, where) if xml.is_file() else (None, f"no {xml.relative_to(folder)} under {folder} ({where})")
