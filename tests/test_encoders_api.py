"""Encoder registry and plugins, modes' trainable sets, feature heads, and weights resolution/loading."""

import hashlib
import re

import pytest
import torch
from torch import nn

from depthbench.encoders import ENTRY_POINT_GROUP, create, get_encoder_info, list_encoders, register_encoder
from depthbench.encoders import registry as registry_module
from depthbench.encoders.heads import GRID_CELLS
from depthbench.errors import DepthbenchError

DEFM_NAMES = {
    "defm-vit-l14",
    "defm-vit-s14",
    "defm-resnet18",
    "defm-resnet34",
    "defm-resnet50",
    "defm-efficientnet-b0",
    "defm-efficientnet-b2",
    "defm-efficientnet-b4",
    "defm-efficientnet-b6",
    "defm-regnet-y-400mf",
    "defm-regnet-y-800mf",
    "defm-regnet-y-1.6gf",
}


@pytest.fixture
def isolated_registry(monkeypatch):
    """Registrations made by a test vanish afterwards."""
    registry_module.load_encoders()
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))


def test_all_defm_variants_and_baselines_are_registered():
    names = {info.name for info in list_encoders()}
    assert DEFM_NAMES | {"scratch-cnn", "imagenet-resnet18", "dinov2-vits14"} <= names
    assert all(get_encoder_info(n).weights["defm"].hf_repo == "leggedrobotics/defm" for n in DEFM_NAMES)
    assert get_encoder_info("defm-regnet-y-1.6gf").weights["defm"].filename == "defm_regnet_y_1_6gf.pth"


def test_unknown_encoder_lists_known_ones():
    with pytest.raises(DepthbenchError, match="unknown encoder 'defm-vit-b14'.*defm-resnet18.*scratch-cnn"):
        create("defm-vit-b14")


def test_register_rejects_bad_and_duplicate_names(isolated_registry):
    with pytest.raises(DepthbenchError, match="kebab-case"):
        register_encoder("My_Encoder")
    with pytest.raises(DepthbenchError, match="registered twice"):
        register_encoder("scratch-cnn")(lambda: nn.Identity())


PLUGIN_SOURCE = """
import torch
from torch import nn
from depthbench.encoders import register_encoder


@register_encoder("fake-plugin-encoder", family="plugin", input_convention="depth / 10")
class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.global_dim, self.dense_channels = 4, [4]

    def preprocess(self, depth_m):
        return depth_m / 10

    def stages(self):
        return [self.conv]

    def neck(self):
        return []

    def forward(self, x):
        dense = self.conv(x)
        return dense.mean(dim=(2, 3)), [dense]
"""


def _fake_distribution(root, package, entry_value):
    dist_info = root / f"{package}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nencoders = {entry_value}\n")


def test_plugin_registers_through_entry_point(tmp_path, monkeypatch, isolated_registry):
    (tmp_path / "fake_depth_plugin.py").write_text(PLUGIN_SOURCE)
    _fake_distribution(tmp_path, "fake_depth_plugin", "fake_depth_plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry_module.load_encoders(reload_plugins=True)
    info = get_encoder_info("fake-plugin-encoder")
    assert info.source == "fake_depth_plugin:fake_depth_plugin"
    encoder = create("fake-plugin-encoder", feature_dim=8)
    out = encoder.encode_depth(torch.full((2, 1, 8, 8), 5.0))
    assert out.global_embedding.shape == (2, 4) and out.dense[0].shape == (2, 4, 4, 4) and out.feature.shape == (2, 8)
    assert encoder.weights_provenance == "random-init"


def test_broken_plugin_names_itself(tmp_path, monkeypatch, isolated_registry):
    _fake_distribution(tmp_path, "broken_depth_plugin", "no_such_module_xyz")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DepthbenchError, match="plugin 'encoders'.*no_such_module_xyz.*broken_depth_plugin"):
        registry_module.load_encoders(reload_plugins=True)


def _trainable(module):
    return {name for name, p in module.named_parameters() if p.requires_grad}


def test_frozen_mode_trains_only_the_head():
    encoder = create("defm-efficientnet-b0")
    assert encoder.mode == "frozen" and encoder.lr_multiplier == 0.0
    assert _trainable(encoder.backbone) == set()
    assert _trainable(encoder.head) == {n for n, _ in encoder.head.named_parameters()} != set()
    encoder.train()
    assert encoder.head.training and not encoder.backbone.training and not encoder.backbone.fpn.training
    out = encoder.encode_depth(torch.rand(2, 1, 32, 32) * 5)
    assert not out.global_embedding.requires_grad and out.feature.requires_grad
    out.feature.sum().backward()
    assert encoder.head.proj.weight.grad is not None


def test_finetune_mode_trains_everything_with_lr_multiplier():
    encoder = create("defm-efficientnet-b0", mode="finetune")
    assert _trainable(encoder) == {n for n, _ in encoder.named_parameters()}
    assert encoder.lr_multiplier == 0.1
    groups = {g["name"]: g for g in encoder.param_groups(base_lr=1e-3)}
    assert groups["defm-efficientnet-b0/head"]["lr"] == 1e-3
    assert groups["defm-efficientnet-b0/backbone"]["lr"] == pytest.approx(1e-4)
    assert sum(p.numel() for g in groups.values() for p in g["params"]) == sum(p.numel() for p in encoder.parameters())


def _modules_of(names, depth):
    return {".".join(name.split(".")[:depth]) for name in names}


def test_partial_mode_trains_last_stages_and_neck():
    encoder = create("defm-resnet18", mode="partial", trainable_blocks=2, lr_multiplier=0.5)
    trainable = _trainable(encoder.backbone)
    assert _modules_of([n for n in trainable if n.startswith("backbone.")], 2) == {"backbone.layer3", "backbone.layer4"}
    assert _modules_of([n for n in trainable if not n.startswith("backbone.")], 1) == {"fpn", "norm_cls", "norm_patch"}
    assert encoder.lr_multiplier == 0.5
    encoder.encode_depth(torch.rand(2, 1, 64, 64) * 5).feature.sum().backward()
    assert encoder.backbone.backbone.layer4[0].conv1.weight.grad is not None
    assert encoder.backbone.backbone.layer2[0].conv1.weight.grad is None


def test_partial_mode_on_vit_trains_last_blocks_and_final_norm():
    encoder = create("defm-vit-s14", mode="partial")  # default: the last block
    trainable = _trainable(encoder.backbone)
    assert _modules_of(trainable, 3) == {"blocks.3.11", "norm.weight", "norm.bias"}
    assert len(trainable) == 14 + 2  # a block: 2 norms, qkv, proj, w12, w3 (weight+bias each), 2 gammas; final norm
    assert encoder.lr_multiplier == 0.1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "train"}, "unknown mode 'train'"),
        ({"trainable_blocks": 2}, "only applies to mode='partial'"),
        ({"mode": "partial", "trainable_blocks": 6}, "must be in 1..5"),
        ({"head": "mlp"}, "unknown feature head 'mlp'"),
        ({"feature_dim": 0}, "feature_dim must be a positive integer"),
    ],
)
def test_bad_create_arguments(kwargs, message):
    with pytest.raises(DepthbenchError, match=message):
        create("defm-resnet18", **kwargs)


def test_heads_have_fixed_size_and_grid_head_sees_layout():
    global_dim, channels = 5, 3
    dense = [torch.arange(2 * channels * 36, dtype=torch.float32).reshape(2, channels, 6, 6)]
    embedding = torch.randn(2, global_dim)
    for head in ("global", "global+grid", "conv"):
        encoder_head = create("scratch-cnn", head=head, feature_dim=7).head
        assert encoder_head.proj.out_features == 7
    from depthbench.encoders.heads import build_head

    grid = build_head("global+grid", global_dim, channels, feature_dim=global_dim + channels * GRID_CELLS**2)
    with torch.no_grad():  # identity projection exposes the head's input
        grid.proj.weight.copy_(torch.eye(grid.proj.in_features))
        grid.proj.bias.zero_()
    features = grid(embedding, dense)
    torch.testing.assert_close(features[:, :global_dim], embedding)
    cells = features[:, global_dim:].reshape(2, channels, 3, 3)
    torch.testing.assert_close(cells[:, :, 1, 2], dense[0][:, :, 2:4, 4:6].mean(dim=(2, 3)))  # middle row, right cell
    global_only = build_head("global", global_dim, channels, feature_dim=4)
    torch.testing.assert_close(global_only(embedding, dense), global_only(embedding, [dense[0].flip(-1)]))
    assert not torch.allclose(grid(embedding, dense), grid(embedding, [dense[0].flip(-1)]))


def _checkpoint(tmp_path, encoder_name, name="weights.pth"):
    state = {k: torch.randn_like(v) for k, v in get_encoder_info(encoder_name).builder().state_dict().items()}
    path = tmp_path / name
    torch.save(state, path)
    return path, state


def test_weights_from_path_and_weights_dir(tmp_path, monkeypatch):
    path, state = _checkpoint(tmp_path, "scratch-cnn")
    encoder = create("scratch-cnn", weights=path)
    torch.testing.assert_close(encoder.backbone.state_dict(), state)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert encoder.weights_provenance == f"{path} sha256:{sha[:12]}"
    nested = tmp_path / "training.pth"
    torch.save({"model": state, "epoch": 3}, nested)
    torch.testing.assert_close(create("scratch-cnn", weights=nested).backbone.state_dict(), state)
    # weights="defm" finds DEPTHBENCH_WEIGHTS_DIR/defm_<variant>.pth before trying the hub.
    path, state = _checkpoint(tmp_path, "defm-efficientnet-b0", "defm_efficientnet_b0.pth")
    monkeypatch.setenv("DEPTHBENCH_WEIGHTS_DIR", str(tmp_path))
    from_dir = create("defm-efficientnet-b0", weights="defm")
    torch.testing.assert_close(from_dir.backbone.state_dict(), state)
    assert from_dir.weights_provenance.startswith(f"{path} sha256:")


def test_random_init_is_labelled():
    assert create("scratch-cnn").weights_provenance == "random-init"


def test_wrong_keys_and_shapes_are_listed(tmp_path):
    path, state = _checkpoint(tmp_path, "scratch-cnn")
    del state["conv1.bias"]
    state["policy.weight"] = torch.zeros(3)
    state["fc.weight"] = torch.zeros(2, 2)
    torch.save(state, path)
    with pytest.raises(
        DepthbenchError,
        match=r"missing keys: conv1\.bias; unexpected keys: policy\.weight; "
        r"wrong shapes: fc\.weight \(2, 2\) != \(512, 1024\)",
    ):
        create("scratch-cnn", weights=path)


def test_unreadable_or_unknown_weights(tmp_path):
    bogus = tmp_path / "bogus.pth"
    bogus.write_text("not a checkpoint")
    one_line = f"cannot read weights file {re.escape(str(bogus))} .*pass another --weights PATH"
    with pytest.raises(DepthbenchError, match=one_line):
        create("scratch-cnn", weights=bogus)
    torch.save(torch.zeros(3), tmp_path / "tensor.pth")
    with pytest.raises(DepthbenchError, match="holds a Tensor, not a state dict"):
        create("scratch-cnn", weights=tmp_path / "tensor.pth")
    with pytest.raises(DepthbenchError, match="neither a file nor a known keyword \\(keywords: 'defm'"):
        create("defm-resnet18", weights="imagenet")


@pytest.mark.parametrize("offline_flag", [True, False])
def test_offline_hub_error_names_file_url_and_local_options(tmp_path, monkeypatch, offline_flag):
    import huggingface_hub.constants as hf_constants

    monkeypatch.delenv("DEPTHBENCH_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", offline_flag)  # False: a closed local port plays the hub
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hf_constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(DepthbenchError) as error:
        create("defm-resnet18", weights="defm")
    message = str(error.value)
    assert ("HF_HUB_OFFLINE" if offline_flag else "cannot reach 127.0.0.1:9") in message
    assert "defm_resnet18.pth" in message
    assert "https://huggingface.co/leggedrobotics/defm/blob/main/defm_resnet18.pth" in message
    assert "--weights PATH" in message and "$DEPTHBENCH_WEIGHTS_DIR/defm_resnet18.pth" in message
    assert "\n" not in message


def test_url_source_offline_error(tmp_path, monkeypatch, isolated_registry):
    from depthbench.encoders import WeightsSource

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    source = WeightsSource(filename="tiny.pth", url="http://127.0.0.1:9/tiny.pth")
    register_encoder("url-weights-encoder", weights={"public": source})(
        registry_module._REGISTRY["scratch-cnn"].builder
    )
    with pytest.raises(DepthbenchError, match="could not get public weights tiny.pth .*http://127.0.0.1:9/tiny.pth"):
        create("url-weights-encoder", weights="public")
