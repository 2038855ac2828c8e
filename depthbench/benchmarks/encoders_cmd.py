"""`depthbench encoders list|info|embed|bench` and `depthbench demo`: inspect, run and time the encoder zoo."""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np

from depthbench.errors import DepthbenchError, first_line
from depthbench.files import read_npy

RANDOM_INIT_LABEL = "RANDOM INIT — not DeFM"


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    encoders = subparsers.add_parser("encoders", help="list, inspect, run and time depth encoders")
    sub = encoders.add_subparsers(dest="encoders_command", metavar="ACTION", required=True)

    listing = sub.add_parser("list", help="name, family, parameters, input convention, default feature_dim")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=_list)

    info = sub.add_parser("info", help="everything known about one encoder (outputs, weights sources)")
    info.add_argument("name", help="encoder name (see `depthbench encoders list`)")
    info.set_defaults(func=_info)

    embed = sub.add_parser(
        "embed", help="run an encoder on one depth image and write the PCA of its dense features beside the depth"
    )
    embed.add_argument("name", help="encoder name")
    embed.add_argument("--input", required=True, help="depth image: .npy float metres (H,W) or .png 16-bit mm")
    embed.add_argument("--pca", required=True, help="output PNG: depth and 3-component PCA of the dense features")
    embed.add_argument(
        "--weights",
        default=None,
        help="checkpoint path, a weights keyword (e.g. defm), or 'none' for random init "
        "(default: the encoder's public weights; an error if they cannot be found)",
    )
    embed.add_argument("--depth-scale", type=float, default=0.001, help="metres per PNG unit (default 0.001: mm)")
    embed.add_argument("--npz", default=None, help="also save global, dense and feature arrays (and provenance) here")
    embed.set_defaults(func=_embed)

    bench = sub.add_parser(
        "bench",
        help="images/s and ms/batch of the bare network and through depthbench's wrapper (preprocess + head), "
        "interleaved in one run",
    )
    bench.add_argument("names", nargs="*", default=["defm-efficientnet-b0", "defm-resnet18"], help="encoder names")
    bench.add_argument("--size", type=int, default=64, help="depth image width and height in pixels (default 64)")
    bench.add_argument("--batch", type=int, default=32, help="images per batch (default 32)")
    bench.add_argument("--repeats", type=int, default=5, help="timing rounds (default 5)")
    bench.add_argument("--iters", type=int, default=20, help="batches per path per round (default 20)")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default 0: torch's default)")
    bench.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.set_defaults(func=_bench)

    demo = subparsers.add_parser(
        "demo",
        help="a seeded procedural room through a DeFM encoder to a PCA image in outputs/ (DeFM weights when present)",
    )
    demo.add_argument("--encoder", default="defm-efficientnet-b0", help="encoder name (default defm-efficientnet-b0)")
    demo.add_argument(
        "--weights",
        default=None,
        help="checkpoint path; default: $DEPTHBENCH_WEIGHTS_DIR/defm_<variant>.pth or the Hugging Face cache/hub, "
        "else random init (clearly labelled)",
    )
    demo.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    demo.add_argument("--height", type=int, default=120)
    demo.add_argument("--width", type=int, default=160)
    demo.add_argument("--out", default=None, help="output PNG (default outputs/demo_<encoder>_seed<seed>.png)")
    demo.set_defaults(func=_demo)


def _list(args: argparse.Namespace) -> int:
    from depthbench.encoders import count_parameters, list_encoders

    rows = [
        {
            "name": info.name,
            "family": info.family,
            "params": count_parameters(info.name),
            "input": info.input_convention,
            "feature_dim": info.default_feature_dim,
            "weights": sorted(info.weights),
        }
        for info in list_encoders()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="depthbench encoders")
    for column in ("name", "family", "params (M)", "input convention", "feature_dim", "weights"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            row["family"],
            f"{row['params'] / 1e6:.3f}",
            row["input"],
            str(row["feature_dim"]),
            ", ".join(row["weights"]) or "-",
        )
    Console(width=200).print(table)
    return 0


def _info(args: argparse.Namespace) -> int:
    from depthbench.encoders import DEFAULT_HEAD, count_parameters, get_encoder_info
    from depthbench.encoders.weights import WEIGHTS_DIR_ENV

    info = get_encoder_info(args.name)
    backbone = info.builder()
    print(f"{info.name}  ({info.family}, from {info.source})")
    print(f"  {info.summary}")
    print(f"  parameters:        {count_parameters(info.name):,}")
    print(f"  input convention:  {info.input_convention}")
    print(f"  global embedding:  {backbone.global_dim}")
    strides = getattr(backbone, "dense_strides", [None] * len(backbone.dense_channels))
    channels = zip(backbone.dense_channels, strides, strict=True)
    dense = ", ".join(f"{c} ch" + (f" at stride {s}" if s else "") for c, s in channels)
    print(f"  dense maps:        {dense}")
    print(f"  feature head:      {DEFAULT_HEAD} -> {info.default_feature_dim} (default)")
    print(f"  partial stages:    {len(backbone.stages())}")
    for keyword, source in info.weights.items():
        print(f"  weights={keyword!r}: ${WEIGHTS_DIR_ENV}/{source.local_name}, else {source.remote}")
    if not info.weights:
        print("  weights: none published (random init; train with mode='finetune')")
    return 0


def read_depth_file(path: str | os.PathLike, depth_scale: float = 0.001) -> np.ndarray:
    """(H, W) float32 metres from a .npy of float metres or a 16-bit PNG (`depth_scale` metres per unit).

    Corrupt or pickled files and images that break the units rule (docs/encoders.md) are one-line errors.
    """
    import torch

    from depthbench.encoders.preprocess import require_metric_units

    path = Path(path)
    if not path.is_file():
        raise DepthbenchError(f"depth file {path} does not exist")
    if path.suffix.lower() == ".npy":
        depth = read_npy(path, "depth")
        if not np.issubdtype(depth.dtype, np.floating):
            raise DepthbenchError(
                f"{path} holds {depth.dtype}; .npy depth must be float metres (save millimetres as a 16-bit PNG)"
            )
        fix = "divide millimetres by 1000 before numpy.save, or save them as a 16-bit PNG"
    elif path.suffix.lower() == ".png":
        from PIL import Image

        try:
            with Image.open(path) as image:
                if image.mode not in ("I;16", "I;16B", "I;16L", "I"):
                    raise DepthbenchError(
                        f"{path} is a {image.mode} PNG; depth PNGs must be 16-bit single channel (millimetres)"
                    )
                depth = np.asarray(image).astype(np.float32) * depth_scale
        except (OSError, SyntaxError, ValueError) as exc:  # PIL's errors for corrupt or truncated files
            raise DepthbenchError(f"{path} is not a readable PNG ({first_line(exc)})") from None
        fix = f"check --depth-scale ({depth_scale:g} m per PNG unit given; 0.001 for millimetres)"
    else:
        raise DepthbenchError(f"{path}: unsupported depth file type {path.suffix!r}; use .npy (metres) or .png (mm)")
    depth = np.squeeze(depth)
    if depth.ndim != 2:
        raise DepthbenchError(f"{path} has shape {depth.shape}; expected one (H, W) depth image")
    depth = depth.astype(np.float32)
    require_metric_units(torch.nan_to_num(torch.from_numpy(depth), posinf=0.0)[None, None], str(path), fix)
    return depth


def _weights_argument(value: str | None, info: object) -> str | None:
    """CLI --weights: 'none' is random init; default is the encoder's public weights keyword."""
    if value is not None:
        return None if value.lower() == "none" else value
    if not info.weights:
        return None
    return next(iter(info.weights))


def _embed(args: argparse.Namespace) -> int:
    from depthbench.encoders import create, get_encoder_info
    from depthbench.encoders.visualize import save_depth_pca_figure

    info = get_encoder_info(args.name)
    depth = read_depth_file(args.input, args.depth_scale)
    encoder = create(args.name, weights=_weights_argument(args.weights, info))
    out, rgb = run_with_pca(encoder, depth)
    label = _provenance_label(encoder)
    path = save_depth_pca_figure(depth, rgb, args.pca, f"{args.name} — {label}")
    print(f"{args.name}: weights {label}")
    print(f"  global {tuple(out.global_embedding.shape)}, dense {[tuple(d.shape) for d in out.dense]}")
    print(f"  wrote {path}")
    if args.npz:
        arrays = {"global_embedding": out.global_embedding.numpy(), "feature": out.feature.numpy()}
        arrays.update({f"dense{level}": dense.numpy() for level, dense in enumerate(out.dense)})
        npz = Path(args.npz)
        npz.parent.mkdir(parents=True, exist_ok=True)
        tmp = npz.with_name(npz.name + ".tmp.npz")
        np.savez(tmp, encoder=args.name, weights=encoder.weights_provenance, input=str(args.input), **arrays)
        os.replace(tmp, npz)
        print(f"  wrote {npz}")
    return 0


def run_with_pca(encoder: object, depth_m: np.ndarray) -> tuple[object, np.ndarray]:
    """Encode one (H, W) depth image; PCA image of the finest dense map without the cells that only saw padding."""
    import torch

    from depthbench.encoders.visualize import pca_rgb

    with torch.inference_mode():
        x = encoder.preprocess(torch.from_numpy(depth_m)[None])
        out = encoder(x)
    dense = out.dense[0][0]
    # CNN inputs are zero-padded bottom/right (content covers min(H, H_padded) rows); ViT inputs are resized instead.
    rows = math.ceil(dense.shape[1] * min(depth_m.shape[0], x.shape[2]) / x.shape[2])
    cols = math.ceil(dense.shape[2] * min(depth_m.shape[1], x.shape[3]) / x.shape[3])
    return out, pca_rgb(dense[:, :rows, :cols])


def _provenance_label(encoder: object) -> str:
    if encoder.weights_provenance == "random-init":
        return RANDOM_INIT_LABEL if encoder.name.startswith("defm-") else "random init"
    return encoder.weights_provenance


def _demo(args: argparse.Namespace) -> int:

    from depthbench.encoders import create, get_encoder_info
    from depthbench.encoders.visualize import procedural_room_depth, save_depth_pca_figure

    info = get_encoder_info(args.encoder)
    weights, note = args.weights, ""
    if weights is None and info.weights:
        keyword = next(iter(info.weights))
        try:
            encoder = create(args.encoder, weights=keyword)
        except DepthbenchError as exc:
            encoder, note = create(args.encoder, weights=None), f" ({exc})"
    else:
        encoder = create(args.encoder, weights=weights)
    depth = procedural_room_depth(args.seed, args.height, args.width)
    out, rgb = run_with_pca(encoder, depth)
    label = _provenance_label(encoder)
    out_path = args.out or f"outputs/demo_{args.encoder}_seed{args.seed}.png"
    title = f"{args.encoder} — {label} — procedural room, seed {args.seed}"
    path = save_depth_pca_figure(depth, rgb, out_path, title)
    print(
        f"depthbench demo: procedural room (seed {args.seed}, {args.height}x{args.width}, "
        f"{float(depth.min()):.2f}-{float(depth.max()):.1f} m) through {args.encoder}"
    )
    print(f"  weights: {label}{note}")
    print(f"  global embedding {tuple(out.global_embedding.shape)}, dense {[tuple(d.shape) for d in out.dense]}")
    print(f"  wrote {path}")
    return 0


def time_encoder(name: str, size: int, batch: int, repeats: int, iters: int, seed: int, device: str = "cpu") -> dict:
    """Median ms/batch of the bare backbone on pre-normalized input and of encode_depth on metric depth.

    Both run frozen under torch.inference_mode with random weights (speed does not depend on the values). Single
    batches of the two paths alternate (and swap order every batch), so load from other processes hits both alike;
    the median of the repeats * iters per-batch times is robust to load spikes, and the minimum (timeit's advice:
    slower runs are other processes interfering) gives the overhead on a busy machine.
    """
    import torch

    from depthbench.encoders import create

    encoder = create(name, weights=None).to(device)
    generator = torch.Generator().manual_seed(seed)
    depth = 0.3 + 9.7 * torch.rand(batch, 1, size, size, generator=generator)
    depth[torch.rand(depth.shape, generator=generator) < 0.05] = 0.0
    depth = depth.to(device)
    # CUDA launches are asynchronous: wait for the device before reading the clock.
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    samples: dict[str, list[float]] = {"bare": [], "wrapper": []}
    with torch.inference_mode():
        x = encoder.preprocess(depth)
        paths = {"bare": lambda: encoder.backbone(x), "wrapper": lambda: encoder.encode_depth(depth)}
        for run in paths.values():  # warm-up (allocator, one-time kernel selection)
            for _ in range(3):
                run()
        for step in range(repeats * iters):
            for label in ("bare", "wrapper") if step % 2 == 0 else ("wrapper", "bare"):
                sync()
                start = time.perf_counter()
                paths[label]()
                sync()
                samples[label].append((time.perf_counter() - start) * 1e3)
    result = {"name": name, "params": sum(p.numel() for p in encoder.backbone.parameters()), "size": size}
    result["batch"] = batch
    for label, values in samples.items():
        ms = statistics.median(values)
        result[label] = {"ms_per_batch": ms, "images_per_s": batch / ms * 1e3, "best_ms_per_batch": min(values)}
    result["overhead_pct"] = 100.0 * (result["wrapper"]["best_ms_per_batch"] / result["bare"]["best_ms_per_batch"] - 1)
    return result


def _bench(args: argparse.Namespace) -> int:
    import torch
    from rich.console import Console
    from rich.table import Table
    from tqdm import tqdm

    from depthbench.encoders import get_encoder_info

    for name in args.names:
        get_encoder_info(name)  # unknown names fail before any timing
    if args.size < 32 or args.batch < 1 or args.repeats < 1 or args.iters < 1 or args.threads < 0:
        raise DepthbenchError("--size must be >= 32, --batch, --repeats, --iters >= 1 and --threads >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = torch.device(args.device)
    except RuntimeError as exc:
        raise DepthbenchError(f"--device {args.device!r} is not a torch device ({exc})") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DepthbenchError("--device cuda requested but torch sees no CUDA device; use --device cpu")
    results = [
        time_encoder(name, args.size, args.batch, args.repeats, args.iters, args.seed, args.device)
        for name in tqdm(args.names, desc="encoders", disable=args.json)
    ]
    machine = f"{os.cpu_count()} CPU threads visible, torch {torch.__version__}, {torch.get_num_threads()} intra-op"
    if device.type == "cuda":
        machine += f", {torch.cuda.get_device_name(device)}"
    if args.json:
        print(json.dumps({"machine": machine, "results": results}, indent=2))
        return 0
    title = f"encoder throughput on {args.device}, {args.size}x{args.size}, batch {args.batch}, frozen, random weights"
    table = Table(title=title)
    for column in (
        "encoder",
        "params (M)",
        "path",
        "ms/batch (median)",
        "images/s",
        "best ms/batch",
        "overhead (best)",
    ):
        table.add_column(column)
    for r in results:
        for label in ("bare", "wrapper"):
            overhead = f"{r['overhead_pct']:+.1f}%" if label == "wrapper" else ""
            timing = r[label]
            row = (
                f"{r['params'] / 1e6:.3f}",
                label,
                f"{timing['ms_per_batch']:.2f}",
                f"{timing['images_per_s']:.0f}",
                f"{timing['best_ms_per_batch']:.2f}",
            )
            table.add_row(r["name"] if label == "bare" else "", *row, overhead)
    console = Console(width=140)
    console.print(table)
    console.print(f"machine: {machine}; median of {args.repeats} x {args.iters} alternating single-batch timings")
    console.print("bare = backbone on pre-normalized input; wrapper = encode_depth (validation + preprocessing + head)")
    return 0
