"""`depthbench noise list|preview|bench`: what noise models exist, what they do to a depth image, how fast they run."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from depthbench.errors import DepthbenchError, first_line


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    noise = subparsers.add_parser(
        "noise",
        help="depth-sensor noise models and sensor profiles",
        description="Noise specs: NAME or NAME(key=value,...) joined by '+', e.g. "
        "'speckle(p=0.02)+dropout(p=0.05)', 'kinect-v1', 'realsense-d435i+holes(p=0.05)', 'clean'.",
    )
    noise_sub = noise.add_subparsers(dest="noise_command", metavar="ACTION", required=True)

    listing = noise_sub.add_parser("list", help="every noise model (parameters, defaults) and sensor profile")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=_noise_list)

    preview = noise_sub.add_parser("preview", help="write a PNG grid: clean, noisy, and noisy - clean")
    preview.add_argument("spec", help="noise spec, e.g. kinect-v1 or 'speckle(p=0.02)+dropout(p=0.05)'")
    preview.add_argument(
        "--input",
        type=Path,
        help="depth image: .npy in metres (H,W) or (N,H,W) or (N,1,H,W), or a 16-bit .png (see --png-scale); "
        "default: depthbench's synthetic scene (floor, wall, box, sphere)",
    )
    preview.add_argument("--png-scale", type=float, default=1000.0, help="PNG units per metre (default 1000: mm)")
    preview.add_argument("--out", type=Path, required=True, help="output PNG path")
    preview.add_argument("--size", type=int, default=128, help="synthetic scene size in pixels (default 128)")
    preview.add_argument("--rows", type=int, default=2, help="images shown (rows of the grid, default 2)")
    preview.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    preview.set_defaults(func=_noise_preview)

    bench = noise_sub.add_parser(
        "bench", help="throughput of noise models on CPU (synthetic scene batches), one row per spec"
    )
    bench.add_argument(
        "specs",
        nargs="*",
        help="specs to time (default: every model and profile with defaults, and DEFAULT_TRAIN_AUGMENTATION; "
        "the word 'train' stands for DEFAULT_TRAIN_AUGMENTATION)",
    )
    bench.add_argument("--size", type=int, default=64, help="image width and height (default 64)")
    bench.add_argument("--batch", type=int, default=256, help="images per call (default 256)")
    bench.add_argument("--seconds", type=float, default=1.0, help="minimum timed seconds per spec (default 1)")
    bench.add_argument("--device", default="cpu", help="torch device (default cpu)")
    bench.add_argument("--threads", type=int, help="torch CPU threads for this run (default: torch's default)")
    bench.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    bench.set_defaults(func=_noise_bench)


def _noise_list(args: argparse.Namespace) -> int:
    from depthbench.noise import list_noise_models

    infos = list_noise_models()
    if args.json:
        rows = [dataclasses.asdict(i) for i in infos]
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="depthbench noise models and sensor profiles", show_lines=True)
    for column in ("name", "kind", "parameters (defaults) / expands to", "summary", "source"):
        table.add_column(column, overflow="fold")
    for i in infos:
        detail = ", ".join(f"{k}={v}" for k, v in i.params.items()) if i.kind == "model" else i.spec
        table.add_row(i.name, i.kind, detail, i.summary, i.source)
    Console().print(table)
    return 0


def load_depth_image(path: Path, png_scale: float) -> Any:
    """(N, 1, H, W) float32 metres from a .npy (metres) or a 16-bit .png (integer units, `png_scale` per metre)."""
    import numpy as np
    import torch

    from depthbench.encoders.preprocess import require_metric_units
    from depthbench.files import read_npy

    if not path.is_file():
        raise DepthbenchError(f"depth input '{path}' not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = read_npy(path, "depth")
        fix = "divide millimetres by 1000 before numpy.save, or save them as a 16-bit PNG"
    elif suffix == ".png":
        from PIL import Image

        try:
            with Image.open(path) as image:
                if image.mode not in ("I", "I;16", "I;16B", "L"):
                    raise DepthbenchError(f"'{path}' is a {image.mode} PNG; depth PNGs are single-channel 16-bit")
                array = np.asarray(image, dtype=np.float64) / png_scale
        except (OSError, SyntaxError, ValueError) as exc:  # PIL's errors for corrupt or truncated files
            raise DepthbenchError(f"'{path}' is not a readable PNG ({first_line(exc)})") from None
        fix = f"check --png-scale ({png_scale:g} PNG units per metre given; 1000 for millimetres)"
    else:
        raise DepthbenchError(f"depth input '{path}' must be .npy (metres) or .png (16-bit, --png-scale per metre)")
    if not np.issubdtype(array.dtype, np.number):
        raise DepthbenchError(f"'{path}' holds {array.dtype}, expected numbers (metres)")
    if array.ndim == 2:
        array = array[None, None]
    elif array.ndim == 3:
        array = array[:, None]
    elif array.ndim != 4 or array.shape[1] != 1:
        raise DepthbenchError(f"'{path}' has shape {array.shape}; expected (H,W), (N,H,W) or (N,1,H,W)")
    depth = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    require_metric_units(torch.nan_to_num(depth, posinf=0.0), str(path), fix)
    return depth


def _noise_preview(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from depthbench.noise import build_noise
    from depthbench.noise.scene import synthetic_depth

    if args.rows < 1 or args.size < 2 or args.png_scale <= 0:
        raise DepthbenchError("need --rows >= 1, --size >= 2 and --png-scale > 0")
    model = build_noise(args.spec)
    if args.input is None:
        clean = synthetic_depth(args.rows, args.size, args.size, seed=args.seed)
        source = f"synthetic scene {args.size}x{args.size}"
    else:
        clean = load_depth_image(args.input, args.png_scale)[: args.rows]
        source = str(args.input)
    noisy = model(clean, torch.Generator().manual_seed(args.seed))
    clean_np, noisy_np = clean[:, 0].numpy(), noisy[:, 0].numpy()
    valid_clean = clean_np[(clean_np > 0) & np.isfinite(clean_np)]
    vmax = float(valid_clean.max()) if valid_clean.size else 1.0
    both_valid = (clean_np > 0) & (noisy_np > 0)
    diff = np.where(both_valid, noisy_np - np.nan_to_num(clean_np), np.nan)
    finite_diff = np.abs(diff[np.isfinite(diff)])
    dmax = max(float(np.percentile(finite_diff, 99)) if finite_diff.size else 0.0, 1e-3)

    depth_cmap = matplotlib.colormaps["turbo"].with_extremes(under="black")  # 0 = invalid shows black
    diff_cmap = matplotlib.colormaps["coolwarm"].with_extremes(bad="black")
    rows = clean_np.shape[0]
    fig, axes = plt.subplots(rows, 3, figsize=(10.5, 3.3 * rows + 0.6), squeeze=False, constrained_layout=True)
    for r in range(rows):
        invalid_pct = 100 * float((noisy_np[r] <= 0).mean())
        panels = [
            (np.where(clean_np[r] > 0, clean_np[r], -1), depth_cmap, 1e-6, vmax, "clean depth [m]"),
            (
                np.where(noisy_np[r] > 0, noisy_np[r], -1),
                depth_cmap,
                1e-6,
                vmax,
                f"noisy [m], {invalid_pct:.1f}% invalid",
            ),
            (diff[r], diff_cmap, -dmax, dmax, "noisy - clean [m] (black: invalid)"),
        ]
        for ax, (image, cmap, low, high, title) in zip(axes[r], panels, strict=True):
            shown = ax.imshow(image, cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(shown, ax=ax, shrink=0.8)
    fig.suptitle(f"{model.spec}\n{source}, seed {args.seed}; black = 0 (no return)", fontsize=9)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({model.spec})")
    return 0


def time_noise(model: Any, depth: Any, generator: Any, min_seconds: float) -> tuple[float, float]:
    """(wall, process CPU) seconds per call of `model(depth, generator)`: 2 warm-up calls, then repeat until
    `min_seconds` of wall time have passed. CPU time is the steadier number on a machine shared with other jobs."""
    import torch

    def sync() -> None:
        if depth.device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):
        model(depth, generator)
    sync()
    calls, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        model(depth, generator)
        calls += 1
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and calls >= 3:
            return elapsed / calls, (time.process_time() - cpu_start) / calls


def _noise_bench(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from depthbench.noise import DEFAULT_TRAIN_AUGMENTATION, build_noise, list_noise_models
    from depthbench.noise.scene import synthetic_depth

    if args.size < 2 or args.batch < 1 or args.seconds <= 0 or (args.threads is not None and args.threads < 1):
        raise DepthbenchError("need --size >= 2, --batch >= 1, --seconds > 0 and --threads >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)  # this benchmark process only
    labels = args.specs or [i.name for i in list_noise_models()] + ["train"]
    specs = [(label, DEFAULT_TRAIN_AUGMENTATION if label == "train" else label) for label in labels]
    models = [(label, build_noise(spec)) for label, spec in specs]  # parse all before timing anything
    try:
        device = torch.device(args.device)
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as exc:
        raise DepthbenchError(f"cannot use device '{args.device}' ({exc}); use --device cpu") from None
    depth = synthetic_depth(args.batch, args.size, args.size).to(device)
    generator = torch.Generator(device=depth.device).manual_seed(0)
    rows = []
    for label, model in tqdm(models, desc="noise bench", disable=args.json):
        seconds, cpu_seconds = time_noise(model, depth, generator, args.seconds)
        rows.append(
            {
                "spec": "DEFAULT_TRAIN_AUGMENTATION" if label == "train" else model.spec,
                "ms_per_batch": 1e3 * seconds,
                "cpu_ms_per_batch": 1e3 * cpu_seconds,
                "images_per_s": args.batch / seconds,
                "mpixels_per_s": args.batch * args.size**2 / seconds / 1e6,
            }
        )
    setting = (
        f"batch {args.batch} x {args.size}x{args.size}, {depth.device.type}, torch threads {torch.get_num_threads()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end"
    )
    if args.json:
        print(json.dumps({"setting": setting, "rows": rows}, indent=2))
        return 0
    table = Table(title=f"noise throughput: {setting}")
    table.add_column("spec", overflow="fold")
    for column in ("ms / batch", "CPU ms / batch", "images / s", "Mpixel / s"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["spec"],
            f"{row['ms_per_batch']:.2f}",
            f"{row['cpu_ms_per_batch']:.2f}",
            f"{row['images_per_s']:,.0f}",
            f"{row['mpixels_per_s']:.1f}",
        )
    Console().print(table)
    if any(label == "train" for label, _ in specs):
        print(f"DEFAULT_TRAIN_AUGMENTATION = {DEFAULT_TRAIN_AUGMENTATION}")
    return 0
