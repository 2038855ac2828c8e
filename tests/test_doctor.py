"""`depthbench doctor`: every section reported, robot models and weights found exactly where the env vars point,
and nothing downloaded."""

import importlib.metadata
import json
import socket

import huggingface_hub
import pytest
import torch

from depthbench.benchmarks import doctor_cmd
from depthbench.benchmarks.cli import main
from depthbench.encoders import list_encoders

SECTIONS = ("depthbench", "libraries", "engines", "robot models", "weights", "torch", "machine")


@pytest.fixture
def local_setup(tmp_path, monkeypatch):
    """A weights dir with one fake DeFM file, a Menagerie root with only the Allegro hand, no caches, no network."""
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "defm_resnet18.pth").write_bytes(b"not really weights")
    menagerie = tmp_path / "menagerie"
    (menagerie / "wonik_allegro").mkdir(parents=True)
    (menagerie / "wonik_allegro" / "right_hand.xml").write_text("<mujoco/>")
    monkeypatch.setenv("DEPTHBENCH_WEIGHTS_DIR", str(weights))
    monkeypatch.setenv("MENAGERIE_ROOT", str(menagerie))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty torch.hub cache
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda **kw: None)  # an empty hub cache

    def no_network(*args, **kwargs):
        raise AssertionError("doctor tried to download something")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return weights, menagerie


def test_json_reports_models_and_weights_where_the_env_vars_point(local_setup, capsys):
    weights, menagerie = local_setup
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert tuple(report) == SECTIONS

    robots = report["robot models"]
    assert robots["menagerie_root"] == str(menagerie)
    allegro = robots["Allegro right hand (kuka-allegro-grasp)"]
    assert allegro["found"] and allegro["path"] == str(menagerie / "wonik_allegro" / "right_hand.xml")
    for label in ("ANYmal C (anymal-ladder)", "iiwa 14 (kuka-allegro-grasp)"):
        assert not robots[label]["found"] and str(menagerie) in robots[label]["where"]

    families = report["weights"]["families"]
    assert report["weights"]["weights_dir"] == str(weights)
    cnn_total = sum(1 for e in list_encoders() if e.family == "defm-cnn")
    assert (families["defm-cnn"]["found"], families["defm-cnn"]["total"]) == (1, cnn_total)
    found = {name for family in families.values() for name, item in family["encoders"].items() if item["found"]}
    assert found == {"defm-resnet18"}
    assert families["defm-cnn"]["encoders"]["defm-resnet18"]["path"] == str(weights / "defm_resnet18.pth")
    assert families["defm-vit"]["found"] == 0

    assert report["torch"]["threads"] == torch.get_num_threads()
    assert report["torch"]["cuda_available"] == torch.cuda.is_available()
    assert report["torch"]["devices"][0] == "cpu" and len(report["torch"]["devices"]) == 1 + torch.cuda.device_count()
    assert report["libraries"]["torch"] == importlib.metadata.version("torch")
    assert report["libraries"]["imageio-ffmpeg"] == importlib.metadata.version("imageio-ffmpeg")
    assert report["engines"]["embree"].startswith("ok")  # a test ray hits its triangle 1 m away
    assert report["engines"]["mujoco_batch"].startswith("ok")
    assert report["machine"]["logical_cpus"] >= 1 and report["machine"]["cpu_vendor"] != ""


def test_text_names_every_section_and_the_missing_state(local_setup, capsys):
    weights, menagerie = local_setup
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    for section in SECTIONS:
        assert f"\n[{section}]\n" in text
    cnn_total = sum(1 for e in list_encoders() if e.family == "defm-cnn")
    assert f"  defm-cnn: 1 of {cnn_total} found\n" in text
    assert f"defm-resnet18 [defm] defm_resnet18.pth: found {weights / 'defm_resnet18.pth'}" in text
    assert "defm-resnet50 [defm] defm_resnet50.pth: missing ($DEPTHBENCH_WEIGHTS_DIR/defm_resnet50.pth" in text
    assert f"ANYmal C (anymal-ladder): MISSING: no anymal_c.xml under {menagerie / 'anybotics_anymal_c'}" in text


def test_a_failing_check_is_reported_not_raised(monkeypatch):
    def broken():
        raise OSError("disk on fire")

    monkeypatch.setitem(doctor_cmd.SECTIONS, "machine", broken)
    report = doctor_cmd.collect()
    assert report["machine"] == "error: OSError: disk on fire"
    assert "[machine]\n  error: OSError: disk on fire" in doctor_cmd.format_report(report)
