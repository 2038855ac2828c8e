"""Baselines: input conventions by hand, shapes, and weights in their publishers' key layouts."""

import pytest
import torch
import torchvision

from depthbench.encoders import create, get_encoder_info
from depthbench.encoders.baselines import IMAGENET_MEAN, IMAGENET_STD
from depthbench.errors import DepthbenchError


def test_scratch_cnn_unit_depth_and_shapes():
    encoder = create("scratch-cnn", mode="finetune")
    x = encoder.preprocess(torch.tensor([[[0.0, 5.0, 20.0, float("nan")]]]))
    torch.testing.assert_close(x, torch.tensor([[[[0.0, 0.5, 1.0, 0.0]]]]))
    out = encoder.encode_depth(torch.rand(3, 64, 64) * 8)
    assert out.global_embedding.shape == (3, 512) and out.dense[0].shape == (3, 64, 4, 4)
    assert out.feature.shape == (3, 256) and encoder.lr_multiplier == 0.1


def test_scratch_cnn_rejects_images_smaller_than_its_kernels():
    encoder = create("scratch-cnn")
    assert encoder.encode_depth(torch.ones(1, 1, 36, 36)).feature.shape[0] == 1  # the smallest size it accepts
    with pytest.raises(DepthbenchError, match="at least 36x36 px.*got 32x32.*depth.width/height"):
        encoder.encode_depth(torch.ones(1, 1, 32, 32))


def test_imagenet_resnet18_loads_torchvision_file_and_matches_torchvision(tmp_path, monkeypatch):
    reference = torchvision.models.resnet18(weights=None).eval()
    torch.save(reference.state_dict(), tmp_path / "resnet18-f37072fd.pth")  # torchvision's file name, fc.* included
    monkeypatch.setenv("DEPTHBENCH_WEIGHTS_DIR", str(tmp_path))
    encoder = create("imagenet-resnet18", weights="imagenet")
    depth = torch.rand(2, 1, 64, 64) * 12
    x = encoder.preprocess(depth)
    expected = (torch.clamp(depth, 0, 10) / 10 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET_STD
    ).view(1, 3, 1, 1)
    torch.testing.assert_close(x, expected)
    reference.fc = torch.nn.Identity()
    with torch.no_grad():
        out = encoder(x)
        torch.testing.assert_close(out.global_embedding, reference(x))
    assert [d.shape[1:] for d in out.dense] == [(128, 8, 8), (256, 4, 4), (512, 2, 2)]
    # The same file passed as a path gets the same key rules (fc.* ignored).
    assert create("imagenet-resnet18", weights=tmp_path / "resnet18-f37072fd.pth").weights_provenance.startswith(
        str(tmp_path)
    )


def test_dinov2_has_timm_key_layout_and_matches_timm_outputs():
    timm = pytest.importorskip("timm")
    with torch.device("meta"):
        registered = get_encoder_info("dinov2-vits14").builder()
        reference_518 = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, img_size=518)
    shapes = {k: tuple(v.shape) for k, v in registered.state_dict().items() if k != "mask_token"}
    assert shapes == {k: tuple(v.shape) for k, v in reference_518.state_dict().items()}
    # Outputs at a native grid (no position-embedding resize, which timm does without DINOv2's +0.1 offset): the
    # same architecture with an 8x8 position grid, so the check stays cheap.
    from depthbench.encoders.defm_vit import DinoViT

    ours = DinoViT(dim=384, depth=12, num_heads=6, pos_grid=8, ffn="mlp", block_chunks=0).eval()
    reference = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, img_size=112).eval()
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v.shape, generator=generator) * 0.02 for k, v in ours.state_dict().items()}
    ours.load_state_dict(state)
    reference.load_state_dict({k: v for k, v in state.items() if k != "mask_token"}, strict=True)
    x = torch.randn(2, 3, 112, 112, generator=generator)
    with torch.no_grad():
        global_embedding, dense = ours(x)
        tokens = reference.forward_features(x)
    torch.testing.assert_close(global_embedding, tokens[:, 0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(dense[0].flatten(2).transpose(1, 2), tokens[:, 1:], atol=1e-4, rtol=1e-4)


def test_dinov3_loads_unprefixed_timm_safetensors(tmp_path, monkeypatch):
    pytest.importorskip("timm")
    from safetensors.torch import save_file

    backbone = get_encoder_info("dinov3-vits16").builder()
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v.shape, generator=generator) * 0.02 for k, v in backbone.model.state_dict().items()}
    save_file(state, tmp_path / "dinov3_vits16.safetensors")
    monkeypatch.setenv("DEPTHBENCH_WEIGHTS_DIR", str(tmp_path))
    encoder = create("dinov3-vits16", weights="dinov3")
    torch.testing.assert_close(encoder.backbone.model.state_dict(), state)
    out = encoder.encode_depth(torch.rand(2, 1, 64, 72) * 5)
    assert out.global_embedding.shape == (2, 384) and out.dense[0].shape == (2, 384, 4, 4)  # 72 floors to 64
