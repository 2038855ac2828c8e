"""Spec strings (round trips, errors) and the `depthbench noise` commands."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from depthbench.benchmarks.cli import main
from depthbench.errors import DepthbenchError
from depthbench.noise import DEFAULT_TRAIN_AUGMENTATION, Pipeline, build_noise, list_noise_models


@pytest.mark.parametrize("info", list_noise_models(), ids=lambda info: info.name)
def test_every_spec_round_trips(info):
    model = build_noise(info.name)
    assert build_noise(model.spec).spec == model.spec
    assert build_noise(info.spec).spec == (model.spec if info.kind == "model" else info.spec)


def test_pipeline_spec_is_canonical_and_applies_in_order():
    model = build_noise(" speckle( p = 0.02 ) + dropout(p=0.05) ")
    assert model.spec == "speckle(p=0.02,std=0.05,size_px=2)+dropout(p=0.05)"
    assert [m.name for m in model.models] == ["speckle", "dropout"]
    assert build_noise(model.spec).spec == model.spec
    # order matters: range then quantize keeps 0.3 m; quantize(step 1 m) then range drops it (rounded to 0)
    clean = torch.full((1, 1, 2, 2), 0.3)
    generator = torch.Generator().manual_seed(0)
    # exact on every CPU: division, round and the multiplication by step_m are correctly rounded IEEE-754 operations
    assert (build_noise("range(min_m=0.1,max_m=5)+quantize(step_m=0.2)")(clean, generator) == 0.4).all()
    assert (build_noise("quantize(step_m=1)+range(min_m=0.1,max_m=5)")(clean, generator) == 0).all()


def test_profiles_keep_their_name_and_compose():
    assert build_noise("kinect-v1").spec == "kinect-v1"
    assert build_noise("clean").spec == "clean"
    combined = build_noise("kinect-v1+dropout(p=0.1)")
    assert combined.spec == "kinect-v1+dropout(p=0.1)"
    assert isinstance(combined, Pipeline) and combined.expanded_spec.startswith("kinect(")
    clean = torch.full((2, 1, 8, 8), 2.0)
    assert torch.equal(build_noise("clean")(clean, torch.Generator()), clean)
    assert build_noise(DEFAULT_TRAIN_AUGMENTATION).spec == DEFAULT_TRAIN_AUGMENTATION  # written canonically


def test_quoted_values_and_int_params():
    assert build_noise("redwood(table='identity')").spec == "redwood(multiplier=1,table=identity)"
    assert build_noise("kinect(subpixel=4.0)").subpixel == 4


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuch", r"unknown noise model 'nosuch'.*models: axial, dropout.*profiles: clean, kinect-v1"),
        ("dropout(q=0.1)", r"noise model 'dropout' has no parameter 'q'; its parameters: p"),
        ("dropout(p=lots)", r"dropout\(p=lots\): expected a number"),
        ("dropout(p=1.5)", r"p must be in \[0, 1\]"),
        ("dropout(p=nan)", r"p must be finite"),
        ("kinect(subpixel=2.5)", r"expected an integer"),
        ("kinect(subpixel=inf)", r"expected an integer"),
        ("kinect-v1(p=1)", r"profile 'kinect-v1' takes no parameters"),
        ("dropout(p=0.1,p=0.2)", r"given twice"),
        ("dropout(p)", r"write key=value"),
        ("dropout(p=0.1", r"cannot parse 'dropout\(p=0.1'"),
        ("speckle()+", r"cannot parse ''"),
        ("", r"empty noise spec"),
        ("range(min_m=5,max_m=1)", r"need 0 <= min_m < max_m"),
    ],
)
def test_bad_specs_raise_one_clear_error(spec, message):
    with pytest.raises(DepthbenchError, match=message):
        build_noise(spec)


def test_noise_list_json_lists_models_and_profiles(capsys):
    assert main(["noise", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    expected_profiles = {"realsense-d435i", "realsense-l515", "zed-2i", "zed-x", "kinect-v1", "kinect-v2", "clean"}
    assert {name for name, row in rows.items() if row["kind"] == "profile"} == expected_profiles
    assert rows["dropout"]["params"] == {"p": 0.05}
    assert all(row["source"] for row in rows.values())


def test_preview_from_npy_and_16bit_png(tmp_path, capsys):
    depth_m = np.linspace(0.5, 4.0, 48 * 40, dtype=np.float32).reshape(40, 48)
    np.save(tmp_path / "d.npy", depth_m)
    Image.fromarray((depth_m * 1000).astype(np.uint16)).save(tmp_path / "d.png")
    for source in ("d.npy", "d.png"):
        out = tmp_path / f"grid_{source}.png"
        assert main(["noise", "preview", "dropout(p=0.5)", "--input", str(tmp_path / source), "--out", str(out)]) == 0
        with Image.open(out) as grid:
            assert grid.format == "PNG" and grid.width > grid.height  # three panels side by side
    assert not list(tmp_path.glob(".*.tmp"))


def test_preview_rejects_rgb_png_in_one_line(tmp_path, capsys):
    Image.new("RGB", (8, 8)).save(tmp_path / "rgb.png")
    code = main(["noise", "preview", "clean", "--input", str(tmp_path / "rgb.png"), "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "single-channel 16-bit" in err


def _object_npy(path):
    """An object-dtype .npy (what a pickled payload looks like), written by hand: the test never enables pickling."""
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        handle.write(b"\x80\x04\x95payload-that-would-be-unpickled.")


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: np.save(p, np.full((16, 16), 1500.0, np.float32)), "looks like millimetres, not metres"),
        (lambda p: np.save(p, np.full((16, 16), 1500, np.uint16)), "looks like millimetres, not metres"),
        (lambda p: p.write_bytes(b"\x93NUMPY" + b"\xff" * 40), "not a readable .npy array"),
        (lambda p: _object_npy(p), "a pickle, an object array"),
    ],
    ids=["float-mm", "int-mm", "corrupt", "pickled"],
)
def test_preview_rejects_bad_npy_in_one_line(tmp_path, capsys, write, message):
    write(tmp_path / "d.npy")
    code = main(["noise", "preview", "clean", "--input", str(tmp_path / "d.npy"), "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and message in err and not (tmp_path / "o.png").exists()


def test_unknown_spec_on_cli_is_one_line_error(tmp_path, capsys):
    assert main(["noise", "preview", "nosuch", "--out", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("depthbench: error: unknown noise model 'nosuch'") and err.count("\n") == 0


def test_bench_reports_one_row_per_spec(capsys):
    args = ["noise", "bench", "dropout", "train", "--size", "8", "--batch", "2", "--seconds", "0.01", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["spec"] for row in report["rows"]] == ["dropout(p=0.05)", "DEFAULT_TRAIN_AUGMENTATION"]
    for row in report["rows"]:
        assert row["images_per_s"] == pytest.approx(2 / (row["ms_per_batch"] / 1e3))
        assert row["mpixels_per_s"] == pytest.approx(row["images_per_s"] * 64 / 1e6)


def test_grasp_students_train_with_the_default_augmentation():
    from depthbench.config import CONFIG_ROOT, load_yaml
    from depthbench.noise import DEFAULT_TRAIN_AUGMENTATION, build_noise

    spec = load_yaml(CONFIG_ROOT / "agents" / "kuka-allegro-grasp.yaml")["train_noise"]
    assert build_noise(spec).spec == build_noise(DEFAULT_TRAIN_AUGMENTATION).spec
