"""The Isaac Lab rsl-rl model config for depthbench encoders, as Isaac Lab hands it to rsl-rl (a plain dict with
class_name), builds a model that encodes the Kuka-Allegro lift camera task's `base_image` depth group."""

import torch
from rsl_rl.utils import resolve_callable
from tensordict import TensorDict

from depthbench.envs.isaaclab_registry import depth_model_cfg, ladder_runner_cfg


def test_depth_model_cfg_builds_the_depthbench_model_from_its_dict():
    import importlib.metadata

    from isaaclab_rl.rsl_rl.utils import handle_deprecated_rsl_rl_cfg

    runner = ladder_runner_cfg()
    runner.actor = depth_model_cfg(
        {"name": "scratch-cnn", "weights": None, "mode": "finetune"}, hidden_dims=[64, 64], distribution_cfg=None
    )
    # What Isaac Lab's train script does before handing rsl-rl the config.
    runner = handle_deprecated_rsl_rl_cfg(runner, importlib.metadata.version("rsl-rl-lib"))
    cfg = runner.to_dict()["actor"]
    obs = TensorDict({"proprio": torch.randn(3, 40), "base_image": torch.rand(3, 1, 64, 64) + 0.3}, batch_size=[3])
    model = resolve_callable(cfg.pop("class_name"))(obs, {"actor": ["proprio", "base_image"]}, "actor", 23, **cfg)
    assert type(model).__name__ == "DepthModel" and model.image_groups == ["base_image"]
    assert model(obs).shape == (3, 23)
