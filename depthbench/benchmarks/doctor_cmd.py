"""`depthbench doctor`: what a bug report needs about this installation, in one paste (`--json` for tools).

Sections: depthbench, libraries, engines (MuJoCo batch stepping, offscreen OpenGL, Embree, ffmpeg, Isaac Lab), robot
models (Menagerie), weights (per encoder family), torch (threads, devices), machine (CPU, memory, OS). Every check
only looks: nothing is downloaded (models and weights are searched where the loaders would find them) and a failing
check is reported as its value, never as a crash.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

LIBRARIES = (
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "mujoco",
    "mujoco-menagerie",
    "rsl-rl-lib",
    "tensordict",
    "gymnasium",
    "trimesh",
    "embreex",
    "scikit-fmm",
    "onnx",
    "onnxruntime",
    "timm",
    "huggingface-hub",
    "imageio-ffmpeg",
    "imageio",
    "pillow",
    "matplotlib",
)
# The robots the MuJoCo tasks load: (label, Menagerie name, entry point).
ROBOTS = (
    ("ANYmal C (anymal-ladder)", "anybotics_anymal_c", "anymal_c"),
    ("iiwa 14 (kuka-allegro-grasp)", "kuka_iiwa_14", "iiwa14"),
    ("Allegro right hand (kuka-allegro-grasp)", "wonik_allegro", "right_hand"),
)
REPO_ROOT = Path(__file__).resolve().parents[2]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    doctor = subparsers.add_parser(
        "doctor",
        help="versions, engines, robot models, weights, devices: what to paste into a bug report",
        description="Report this installation: library versions, simulation/rendering engines, Menagerie robot "
        "models and pretrained weights found locally (nothing is downloaded), torch threads and devices, CPU and OS.",
    )
    doctor.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    doctor.set_defaults(func=_doctor)


def _checked(check: Callable[[], Any]) -> Any:
    """The check's result, or its failure as a value: a doctor reports what is broken instead of stopping."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - any failure is a finding to report
        return f"error: {type(exc).__name__}: {str(exc).strip()[:200]}"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def depthbench_section() -> dict[str, Any]:
    import depthbench
    from depthbench.agents.config import versions

    return {
        "version": depthbench.__version__,
        "location": str(Path(depthbench.__file__).parent),
        "git_commit": versions()["git_commit"],
        "python": f"{sys.version.split()[0]} ({sys.executable})",
    }


def libraries_section() -> dict[str, str]:
    return {package: _version(package) for package in LIBRARIES}


def _mujoco_batch() -> str:
    import mujoco
    from mujoco.batch import Batch  # what depthbench.envs.mujoco_engine steps with (MuJoCo >= 4.0)

    rollout = "mujoco.rollout also available" if importlib.util.find_spec("mujoco.rollout") else "no mujoco.rollout"
    return f"ok: {Batch.__module__}.{Batch.__name__} in MuJoCo {mujoco.__version__}; {rollout}"


def _offscreen_gl() -> str:
    from depthbench.envs.mujoco_engine import probe_offscreen

    return probe_offscreen()


def _embree() -> str:
    import numpy as np
    from embreex import rtcore_scene
    from embreex.mesh_construction import TriangleMesh

    scene = rtcore_scene.EmbreeScene()
    TriangleMesh(scene, np.array([[0, 0, 1], [1, 0, 1], [0, 1, 1]], np.float32), np.array([[0, 1, 2]], np.int32))
    hit = scene.run(np.array([[0.2, 0.2, 0.0]], np.float32), np.array([[0, 0, 1]], np.float32), output=1)
    distance = float(hit["tfar"][0])
    status = "ok" if abs(distance - 1.0) < 1e-5 else f"WRONG: test ray hit at {distance} m, expected 1 m"
    return f"{status}: embreex {_version('embreex')} (navigation depth and navmesh rays)"


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        return "not installed: pip install 'depthbench[video]' for `eval --video`"
    return f"ok: {imageio_ffmpeg.get_ffmpeg_exe()} (ffmpeg {imageio_ffmpeg.get_ffmpeg_version()})"


def _isaaclab() -> dict[str, str]:
    venv = REPO_ROOT / ".venv-isaaclab"
    if venv.is_dir():
        installed = sorted({p.name.split("-")[0] for p in venv.glob("lib/python*/site-packages/isaaclab*")})
        venv_status = f"present: {venv} ({', '.join(installed) or 'no isaaclab packages inside'})"
    else:
        venv_status = f"absent: no {venv}"
    here = "importable" if importlib.util.find_spec("isaaclab") else "not importable"
    return {"venv": venv_status, "this_python": f"isaaclab {here} in {sys.executable}"}


def engines_section() -> dict[str, Any]:
    return {
        "mujoco_batch": _checked(_mujoco_batch),
        "offscreen_gl": _checked(_offscreen_gl),
        "embree": _checked(_embree),
        "ffmpeg": _checked(_ffmpeg),
        "isaaclab": _checked(_isaaclab),
    }


def robots_section() -> dict[str, Any]:
    from depthbench.envs.menagerie import local_robot_xml

    out: dict[str, Any] = {"menagerie_root": os.environ.get("MENAGERIE_ROOT") or "(unset: download cache)"}
    for label, name, entry in ROBOTS:

        def check(name: str = name, entry: str = entry) -> dict[str, Any]:
            path, where = local_robot_xml(name, entry)
            return {"found": path is not None, "path": str(path) if path else None, "where": where}

        out[label] = _checked(check)
    return out


def weights_section() -> dict[str, Any]:
    from depthbench.encoders import list_encoders
    from depthbench.encoders.weights import WEIGHTS_DIR_ENV, find_local_weights

    families: dict[str, dict[str, Any]] = {}
    for info in list_encoders():
        for keyword, source in info.weights.items():
            path, where = find_local_weights(source)
            family = families.setdefault(info.family, {"found": 0, "total": 0, "encoders": {}})
            family["total"] += 1
            family["found"] += path is not None
            family["encoders"][info.name] = {
                "keyword": keyword,
                "file": source.local_name,
                "found": path is not None,
                "path": str(path) if path else None,
                "where": where,
            }
    return {"weights_dir": os.environ.get(WEIGHTS_DIR_ENV) or "(unset)", "families": families}


def torch_section() -> dict[str, Any]:
    import torch

    devices = [
        f"cuda:{i} {torch.cuda.get_device_name(i)} ({torch.cuda.get_device_properties(i).total_memory / 2**30:.1f} GiB)"
        for i in range(torch.cuda.device_count())
    ]
    return {
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "(unset)"),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda or "none (CPU build)",
        "devices": ["cpu", *devices],
    }


def _cpuinfo() -> dict[str, str]:
    fields: dict[str, str] = {}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "vendor_id") and key not in fields:
                fields[key] = value.strip()
    return fields


def machine_section() -> dict[str, Any]:
    cpu = _cpuinfo()
    out: dict[str, Any] = {
        "cpu_model": cpu.get("model name") or platform.processor() or "unknown",
        "cpu_vendor": cpu.get("vendor_id") or "unknown",
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        total = next(line for line in meminfo.read_text().splitlines() if line.startswith("MemTotal"))
        out["memory_gib"] = round(int(total.split()[1]) / 2**20, 1)  # /proc/meminfo counts KiB
    if hasattr(os, "getloadavg"):
        out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    release = Path("/etc/os-release")
    lines = release.read_text().splitlines() if release.is_file() else []
    pretty = next((line.split("=", 1)[1].strip('"') for line in lines if line.startswith("PRETTY_NAME=")), "")
    out["os"] = f"{pretty} ({platform.platform()})" if pretty else platform.platform()
    return out


SECTIONS: dict[str, Callable[[], Any]] = {
    "depthbench": depthbench_section,
    "libraries": libraries_section,
    "engines": engines_section,
    "robot models": robots_section,
    "weights": weights_section,
    "torch": torch_section,
    "machine": machine_section,
}


def collect() -> dict[str, Any]:
    """Every section's findings (a section that fails entirely holds its error)."""
    return {name: _checked(section) for name, section in SECTIONS.items()}


def format_report(report: dict[str, Any]) -> str:
    """Plain text, one `[section]` block each: pastes cleanly into an issue."""
    lines = ["depthbench doctor (paste into bug reports; `depthbench doctor --json` for tools)"]
    for section, body in report.items():
        lines.append(f"\n[{section}]")
        if section == "weights" and isinstance(body, dict):
            lines.append(f"  DEPTHBENCH_WEIGHTS_DIR: {body['weights_dir']}")
            for family, entry in body["families"].items():
                lines.append(f"  {family}: {entry['found']} of {entry['total']} found")
                for name, item in entry["encoders"].items():
                    state = f"found {item['path']} ({item['where']})" if item["found"] else item["where"]
                    lines.append(f"    {name} [{item['keyword']}] {item['file']}: {state}")
        elif isinstance(body, dict):
            for key, value in body.items():
                if isinstance(value, dict) and "found" in value:  # a robot model
                    where = value["where"]
                    value = f"found {value['path']} ({where})" if value["found"] else f"MISSING: {where}"
                elif isinstance(value, dict):
                    value = "; ".join(f"{k}: {v}" for k, v in value.items())
                elif isinstance(value, list):
                    value = ", ".join(str(v) for v in value)
                lines.append(f"  {key}: {value}")
        else:
            lines.append(f"  {body}")
    return "\n".join(lines)


def _doctor(args: argparse.Namespace) -> int:
    report = collect()
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
