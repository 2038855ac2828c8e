"""Regenerate tests/fixtures/defm_* from the official DeFM package (PyPI `defm`, leggedrobotics/defm).

depthbench does not depend on `defm`; install it into a scratch folder, then point this script at it:

    pip install --no-deps --target /tmp/defm_pkg defm==1.1.0 omegaconf antlr4-python3-runtime==4.9.3
    python scripts/make_defm_fixture.py --defm-path /tmp/defm_pkg

Writes
  - defm_state_dicts.json.gz: for all 12 variants, the official state-dict key names and shapes (in order) and the
    parameter count (built with pretrained=False: no download).
  - defm_outputs.npz: for the small variants, outputs of the official model with weights from `seeded_state_dict`
    on a seeded input, and the official `preprocess_depth_batch` on a seeded depth batch with holes, NaN/Inf and
    far values (CNN padding path, ViT patch path, explicit resize).
The tests rebuild the same weights with `seeded_state_dict` (imported from this file) and compare.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

VARIANTS = (
    "vit-s14",
    "vit-l14",
    "resnet18",
    "resnet34",
    "resnet50",
    "efficientnet-b0",
    "efficientnet-b2",
    "efficientnet-b4",
    "efficientnet-b6",
    "regnet-y-400mf",
    "regnet-y-800mf",
    "regnet-y-1.6gf",
)
OUTPUT_VARIANTS = ("efficientnet-b0", "resnet18", "regnet-y-400mf", "vit-s14")
WEIGHT_SEED = 1234
CNN_INPUT_SHAPE = (2, 3, 64, 96)
VIT_INPUT_SHAPE = (2, 3, 56, 70)  # not square: exercises the position-embedding resize


def official_name(variant: str) -> str:
    return "defm_" + variant.replace("-", "_").replace(".", "_")


def seeded_state_dict(shapes: dict[str, tuple[int, ...]], seed: int = WEIGHT_SEED) -> dict[str, torch.Tensor]:
    """Deterministic, well-scaled weights for a key->shape map, independent of any model's init order.

    Matrices and kernels: N(0, 1/fan_in); 1-D scales (norm weights, LayerScale gammas, fusion weights): 1 + N(0, 0.1);
    other 1-D (biases): N(0, 0.1).
    """
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        noise = torch.randn(shape, generator=generator, dtype=torch.float64)
        if len(shape) >= 2:
            value = noise / int(np.prod(shape[1:])) ** 0.5
        elif key.endswith(("weight", "weights", "gamma")):
            value = 1.0 + 0.1 * noise
        else:
            value = 0.1 * noise
        state[key] = value.to(torch.float32)
    return state


def seeded_depth(seed: int = 7) -> torch.Tensor:
    """(3,1,30,41) metres: 0.2-60 m log-uniform with holes (0), NaN, +Inf and > 100 m values."""
    generator = torch.Generator().manual_seed(seed)
    depth = torch.exp(torch.empty(3, 1, 30, 41).uniform_(np.log(0.2), np.log(60.0), generator=generator))
    mask = torch.rand(depth.shape, generator=generator)
    depth[mask < 0.1] = 0.0
    depth[(mask >= 0.1) & (mask < 0.12)] = float("nan")
    depth[(mask >= 0.12) & (mask < 0.14)] = float("inf")
    depth[(mask >= 0.14) & (mask < 0.16)] = 250.0
    depth[2] = 3.0  # a constant image: C3 must be 0
    return depth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--defm-path", default="/tmp/defm_pkg", help="folder holding the installed `defm` package")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "tests" / "fixtures"))
    args = parser.parse_args()
    sys.path.insert(0, args.defm_path)
    warnings.filterwarnings("ignore")
    from defm import preprocess_depth_batch
    from defm.model_factory import create_defm_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state_dicts, arrays = {}, {}
    for variant in VARIANTS:
        model = create_defm_model(official_name(variant), pretrained=False).eval()
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        state_dicts[variant] = {
            "keys": [[k, list(s)] for k, s in shapes.items()],
            "params": sum(p.numel() for p in model.parameters()),
        }
        if variant in OUTPUT_VARIANTS:
            model.load_state_dict(seeded_state_dict(shapes), strict=True)
            shape = VIT_INPUT_SHAPE if variant.startswith("vit") else CNN_INPUT_SHAPE
            x = torch.randn(shape, generator=torch.Generator().manual_seed(WEIGHT_SEED + 1))
            with torch.no_grad():
                if variant.startswith("vit"):
                    result = model.forward_features(x)
                    grid = (shape[2] // 14, shape[3] // 14)
                    patches = result["x_norm_patchtokens"].transpose(1, 2).reshape(shape[0], -1, *grid)
                    global_embedding, dense = result["x_norm_clstoken"], [patches]
                else:
                    result = model(x)
                    global_embedding, dense = result["global_backbone"], list(result["dense_bifpn"].values())
            arrays[f"{variant}/input"] = x.numpy()
            arrays[f"{variant}/global"] = global_embedding.numpy()
            for level, feature in enumerate(dense):
                arrays[f"{variant}/dense{level}"] = feature.numpy()
        del model
        print(f"{variant}: {len(shapes)} keys, {state_dicts[variant]['params'] / 1e6:.3f} M params")

    depth = seeded_depth()
    arrays["preprocess/depth"] = depth.numpy()
    arrays["preprocess/cnn"] = preprocess_depth_batch(depth, cnn_padding=True).numpy()
    arrays["preprocess/vit"] = preprocess_depth_batch(depth, patch_size=14).numpy()
    arrays["preprocess/resized"] = preprocess_depth_batch(depth, target_size=(20, 27)).numpy()

    with gzip.open(out / "defm_state_dicts.json.gz", "wt") as handle:
        json.dump({"defm_version": _version(), "variants": state_dicts}, handle)
    np.savez_compressed(out / "defm_outputs.npz", **arrays)
    print(f"wrote {out / 'defm_state_dicts.json.gz'} and {out / 'defm_outputs.npz'}")


def _version() -> str:
    from importlib.metadata import version

    try:
        return version("defm")
    except Exception:
        return "unknown"


if __name__ == "__main__":
    main()
