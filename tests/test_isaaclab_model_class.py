"""depthbench's rsl-rl model class by class path, as an Isaac Lab rsl-rl config names it (docs/isaaclab.md), on an
observation dict shaped like Isaac Lab's Kuka-Allegro lift camera task: 1D state groups plus `base_image`, one
64x64 float depth camera in metres, channel first (0 = no return from the Newton Warp renderer)."""

import torch
from rsl_rl.utils import resolve_callable
from tensordict import TensorDict

N, ACTIONS = 4, 23


def _lift_camera_obs() -> TensorDict:
    generator = torch.Generator().manual_seed(0)
    depth = torch.rand(N, 1, 64, 64, generator=generator) * 2.0 + 0.3
    depth[:, :, :8] = 0.0  # rows with no return
    return TensorDict({"proprio": torch.randn(N, 40, generator=generator), "base_image": depth}, batch_size=[N])


def test_model_class_path_runs_a_depthbench_encoder_on_the_depth_group():
    model_class = resolve_callable("depthbench.agents.models:DepthModel")
    obs = _lift_camera_obs()
    model = model_class(
        obs,
        {"actor": ["proprio", "base_image"]},
        "actor",
        ACTIONS,
        hidden_dims=[64, 64],
        distribution_cfg={"class_name": "GaussianDistribution", "init_std": 1.0},
        encoder_cfg={"name": "scratch-cnn", "weights": None, "mode": "finetune"},
    )
    # The latent is the state group plus the encoder's features of the one camera.
    assert model.image_groups == ["base_image"] and model.image_feature_dim == model.encoder.feature_dim
    actions = model(obs)
    assert actions.shape == (N, ACTIONS) and torch.isfinite(actions).all()
    # The depth image changes the action (the encoder is in the loop) and gradients reach the encoder.
    other = obs.clone()
    other["base_image"] = other["base_image"].flip(-1)
    assert not torch.allclose(model(obs), model(other))
    model(obs).square().sum().backward()
    grads = [p.grad for p in model.encoder.parameters() if p.requires_grad]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)
