"""`depthbench encoders ...` and `depthbench demo`: outputs and every error path (one line, exit 2)."""

import io
import json
import math
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from depthbench.benchmarks.cli import main
from depthbench.benchmarks.encoders_cmd import RANDOM_INIT_LABEL, read_depth_file, time_encoder
from depthbench.encoders.visualize import pca_rgb, procedural_room_depth


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No local DeFM weights and no reachable hub."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("DEPTHBENCH_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hf_constants, "ENDPOINT", "http://127.0.0.1:9")


def _error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("depthbench: error: ")
    return err


def test_list_json_has_params_convention_and_feature_dim(capsys):
    assert main(["encoders", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["defm-resnet18"]["params"] == 11_735_624 and rows["defm-resnet18"]["family"] == "defm-cnn"
    assert rows["defm-vit-l14"]["params"] == 303_655_168
    assert rows["scratch-cnn"]["input"].startswith("1 channel") and rows["scratch-cnn"]["weights"] == []
    assert {row["feature_dim"] for row in rows.values()} == {256}


def test_info_names_weights_sources(capsys):
    assert main(["encoders", "info", "defm-efficientnet-b0"]) == 0
    out = capsys.readouterr().out
    assert "3,009,620" in out and "64 ch at stride 8" in out
    assert "$DEPTHBENCH_WEIGHTS_DIR/defm_efficientnet_b0.pth" in out
    assert "https://huggingface.co/leggedrobotics/defm/blob/main/defm_efficientnet_b0.pth" in out


def test_unknown_encoder_is_one_line_listing_known_ones(capsys):
    assert main(["encoders", "info", "defm-vit-h14"]) == 2
    err = _error_line(capsys)
    assert "unknown encoder 'defm-vit-h14'" in err and "defm-vit-s14" in err and "scratch-cnn" in err
    assert main(["encoders", "bench", "nope"]) == 2
    assert "unknown encoder 'nope'" in _error_line(capsys)


def test_embed_npy_and_png_agree(tmp_path, capsys):
    depth = procedural_room_depth(seed=3, height=48, width=64)
    np.save(tmp_path / "room.npy", depth)
    Image.fromarray(np.round(depth * 1000).astype(np.uint16)).save(tmp_path / "room.png")
    args = ["encoders", "embed", "scratch-cnn", "--input", str(tmp_path / "room.npy"), "--pca", str(tmp_path / "a.png")]
    assert main([*args, "--npz", str(tmp_path / "a.npz")]) == 0
    out = capsys.readouterr().out
    assert "random init" in out and "dense [(1, 64, 2, 4)]" in out
    figure = np.asarray(Image.open(tmp_path / "a.png"))
    assert figure.ndim == 3 and figure.shape[1] > figure.shape[0]
    np.testing.assert_allclose(read_depth_file(tmp_path / "room.png"), depth, atol=5e-4)  # mm rounding
    saved = np.load(tmp_path / "a.npz")
    assert saved["dense0"].shape == (1, 64, 2, 4) and saved["feature"].shape == (1, 256)
    assert str(saved["weights"]) == "random-init" and str(saved["encoder"]) == "scratch-cnn"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.npy", "does not exist"),
        (lambda d: (np.save(d / "int.npy", np.ones((4, 4), np.int32)), d / "int.npy")[1], "must be float metres"),
        (lambda d: (Image.fromarray(np.ones((4, 4), np.uint8)).save(d / "rgb8.png"), d / "rgb8.png")[1], "16-bit"),
        (lambda d: (np.save(d / "stack.npy", np.ones((2, 4, 4), np.float32)), d / "stack.npy")[1], "one \\(H, W\\)"),
        (lambda d: ((d / "depth.exr").write_text("x"), d / "depth.exr")[1], "unsupported depth file type"),
        (lambda d: (np.save(d / "neg.npy", -np.ones((40, 40), np.float32)), d / "neg.npy")[1], "negative values"),
        # corrupt, pickled and mislabelled files: never unpickled, never a traceback
        (lambda d: _write(d / "noise.npy", bytes(range(256)) * 8), "not a readable .npy array"),
        (lambda d: _write(d / "cut.npy", _npy_bytes(np.ones((40, 40), np.float32))[:100]), "not a readable .npy"),
        (lambda d: _pickled_npy(d / "obj.npy"), "no plain .npy array: a pickle"),
        (
            lambda d: (np.savez(d / "a.npz", depth=np.ones((4, 4))), (d / "a.npz").rename(d / "z.npy"), d / "z.npy")[2],
            "a .npz archive",
        ),
        (lambda d: _write(d / "cut.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64), "not a readable PNG"),
        # millimetres saved as float "metres": the units rule (docs/encoders.md)
        (
            lambda d: (np.save(d / "mm.npy", procedural_room_depth(0, 40, 40) * 1000), d / "mm.npy")[1],
            "divide millimetres by 1000",
        ),
    ],
)
def test_embed_input_errors(tmp_path, capsys, make, message):
    path = make(tmp_path)
    assert main(["encoders", "embed", "scratch-cnn", "--input", str(path), "--pca", str(tmp_path / "o.png")]) == 2
    assert message.replace("\\", "") in _error_line(capsys).replace("\\", "")
    assert not (tmp_path / "o.png").exists()


def _write(path, data):
    path.write_bytes(data)
    return path


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _pickled_npy(path):
    """What a malicious .npy holds: an object-dtype header followed by pickle bytes (written by hand here, so the test
    itself never enables pickling); numpy refuses it before reading the payload."""
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        handle.write(b"\x80\x04\x95payload-that-would-be-unpickled.")
    return path


def test_embed_png_with_a_wrong_depth_scale_names_the_flag(tmp_path, capsys):
    Image.fromarray(np.round(procedural_room_depth(0, 40, 40) * 1000).astype(np.uint16)).save(tmp_path / "mm.png")
    args = ["encoders", "embed", "scratch-cnn", "--input", str(tmp_path / "mm.png"), "--pca", str(tmp_path / "o.png")]
    assert main([*args, "--depth-scale", "1"]) == 2
    assert "check --depth-scale (1 m per PNG unit given; 0.001 for millimetres)" in _error_line(capsys)
    assert main(args) == 0  # the default 0.001 reads the same file as metres


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (bytes(range(256)) * 8, "torch's weights-only loader refused it: Unsupported operand"),
        (b"PK\x03\x04" + b"\0" * 64, "RuntimeError: PytorchStreamReader failed reading zip archive"),
        (pickle.dumps({"model": object()}), "torch's weights-only loader refused it"),
    ],
    ids=["random-bytes", "truncated-zip", "pickled-object"],
)
def test_corrupt_weights_file_is_one_line_naming_it(tmp_path, capsys, content, reason):
    np.save(tmp_path / "d.npy", np.full((40, 40), 2.0, np.float32))
    weights = _write(tmp_path / "w.pth", content)
    args = ["encoders", "embed", "scratch-cnn", "--input", str(tmp_path / "d.npy"), "--pca", str(tmp_path / "o.png")]
    assert main([*args, "--weights", str(weights)]) == 2
    err = _error_line(capsys)
    assert f"cannot read weights file {weights} ({reason}" in err and "pass another --weights PATH" in err
    assert "weights_only=False" not in err and not (tmp_path / "o.png").exists()


def test_embed_defm_without_weights_is_a_clear_error(tmp_path, capsys, offline):
    np.save(tmp_path / "d.npy", np.full((64, 64), 2.0, np.float32))
    args = ["encoders", "embed", "defm-efficientnet-b0", "--input", str(tmp_path / "d.npy"), "--pca", "x.png"]
    assert main(args) == 2
    err = _error_line(capsys)
    assert "defm_efficientnet_b0.pth" in err and "--weights PATH" in err


def test_demo_labels_random_init_and_writes_figure(tmp_path, capsys, offline):
    out = tmp_path / "demo.png"
    assert main(["demo", "--height", "48", "--width", "64", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert RANDOM_INIT_LABEL in stdout and "defm-efficientnet-b0" in stdout
    assert out.is_file() and not list(tmp_path.glob("*.tmp.png"))


def test_demo_loads_weights_from_weights_dir(tmp_path, capsys, monkeypatch):
    from depthbench.encoders import get_encoder_info

    state = get_encoder_info("defm-efficientnet-b0").builder().state_dict()
    torch.save(state, tmp_path / "defm_efficientnet_b0.pth")
    monkeypatch.setenv("DEPTHBENCH_WEIGHTS_DIR", str(tmp_path))
    assert main(["demo", "--height", "40", "--width", "40", "--out", str(tmp_path / "d.png")]) == 0
    stdout = capsys.readouterr().out
    assert RANDOM_INIT_LABEL not in stdout and f"{tmp_path / 'defm_efficientnet_b0.pth'} sha256:" in stdout


def test_bench_bad_arguments(capsys):
    assert main(["encoders", "bench", "scratch-cnn", "--size", "8"]) == 2
    assert "--size must be >= 32" in _error_line(capsys)
    assert main(["encoders", "bench", "scratch-cnn", "--device", "gpu0"]) == 2
    assert "--device 'gpu0' is not a torch device" in _error_line(capsys)


def test_time_encoder_reports_consistent_rates():
    result = time_encoder("scratch-cnn", size=40, batch=4, repeats=1, iters=1, seed=0)
    for path in ("bare", "wrapper"):
        assert result[path]["images_per_s"] == pytest.approx(4 / result[path]["ms_per_batch"] * 1e3)
    assert result["params"] == 596_640
    for path in ("bare", "wrapper"):
        assert result[path]["best_ms_per_batch"] <= result[path]["ms_per_batch"]
    expected = 100 * (result["wrapper"]["best_ms_per_batch"] / result["bare"]["best_ms_per_batch"] - 1)
    assert result["overhead_pct"] == pytest.approx(expected)


def test_procedural_room_floor_and_back_wall_match_pinhole_geometry():
    height, width, focal = 60, 80, 72.0
    depth = procedural_room_depth(seed=0, height=height, width=width, num_boxes=0, focal_px=focal)
    # Floor 1 m below the camera: z-depth = focal * 1 m / (pixel row offset below the principal point).
    row = height - 1
    assert depth[row, 0] == pytest.approx(focal / (row + 0.5 - height / 2), rel=1e-5)
    # Just above the horizon a ray meets the back wall (8 m) or, through the doorway, the far wall (40 m) or a
    # side wall (x = +-3 m, at z-depth 3 m * focal / column offset).
    for col in range(width):
        side_m = 3.0 * focal / abs(col + 0.5 - width / 2)
        assert min(abs(depth[height // 2 - 1, col] - d) for d in (8.0, 40.0, side_m)) < 1e-3
    assert (np.abs(depth[height // 2 - 1] - 8.0) < 1e-3).sum() > width // 4
    assert depth.min() > 0 and np.isfinite(depth).all()
    boxes = procedural_room_depth(seed=0, height=height, width=width, num_boxes=5, focal_px=focal)
    assert (boxes <= depth + 1e-5).all() and (boxes < depth - 0.1).any()  # boxes only occlude


def test_pca_rgb_first_component_follows_dominant_feature_direction():
    rows = torch.arange(6, dtype=torch.float32).view(6, 1).expand(6, 5)
    direction = torch.randn(8, generator=torch.Generator().manual_seed(0))
    dense = direction.view(8, 1, 1) * rows + 0.01 * torch.randn(8, 6, 5, generator=torch.Generator().manual_seed(1))
    rgb = pca_rgb(dense)
    assert rgb.shape == (6, 5, 3) and rgb.min() >= 0 and rgb.max() <= 1
    red = rgb[..., 0].mean(axis=1)
    assert abs(np.corrcoef(red, np.arange(6))[0, 1]) > 0.99 and not math.isnan(red.sum())


def test_pca_drops_cells_that_only_saw_padding():
    from depthbench.benchmarks.encoders_cmd import run_with_pca
    from depthbench.encoders import create

    depth = procedural_room_depth(seed=1, height=72, width=100)  # padded to 96x128 for the CNN
    out, rgb = run_with_pca(create("defm-efficientnet-b0"), depth)
    assert out.dense[0].shape[-2:] == (12, 16) and rgb.shape == (9, 13, 3)  # ceil(72/8), ceil(100/8)
