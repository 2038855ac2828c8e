"""Gym registration of depthbench's Isaac Lab tasks, for Isaac Lab's own tools (`isaaclab train --task ...`),
found through the `isaaclab.tasks` entry point group (pyproject.toml). Importing this module registers:

- Isaac-Depthbench-AnymalLadder-Direct-v0: anymal-ladder (DirectRLEnv), default task config
  (configs/tasks/anymal-ladder.yaml); its rsl-rl config is the privileged teacher of configs/agents/anymal-ladder.yaml
  (actor and critic on the policy + privileged groups; depth students train with `depthbench distill`).
- Isaac-Depthbench-KukaAllegroGrasp-Direct-v0: kuka-allegro-grasp (DirectRLEnv), default task config
  (configs/tasks/kuka-allegro-grasp.yaml); its rsl-rl config is the privileged teacher of
  configs/agents/kuka-allegro-grasp.yaml.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from depthbench.config import CONFIG_ROOT, load_yaml

LADDER_ID = "Isaac-Depthbench-AnymalLadder-Direct-v0"
GRASP_ID = "Isaac-Depthbench-KukaAllegroGrasp-Direct-v0"


def ladder_env_cfg() -> Any:
    """The default anymal-ladder DirectRLEnvCfg (Isaac Lab's train script then sets num_envs, device and seed)."""
    from depthbench.envs import task_config
    from depthbench.envs.ladder.isaaclab_task import env_cfg

    return env_cfg(task_config("anymal-ladder"), num_envs=4096, device="cuda:0")


def grasp_env_cfg() -> Any:
    """The default kuka-allegro-grasp DirectRLEnvCfg (Isaac Lab's train script then sets num_envs, device, seed)."""
    from depthbench.envs import task_config
    from depthbench.envs.grasp.isaaclab_task import env_cfg

    return env_cfg(task_config("kuka-allegro-grasp"), num_envs=4096, device="cuda:0")


def _runner_cfg(task: str, experiment: str) -> Any:
    """Isaac Lab's RslRlOnPolicyRunnerCfg from depthbench's agent config (teacher observation groups)."""
    from isaaclab_rl.rsl_rl import RslRlMLPModelCfg, RslRlOnPolicyRunnerCfg, RslRlPpoAlgorithmCfg

    agent = load_yaml(CONFIG_ROOT / "agents" / f"{task}.yaml")
    ppo = agent["ppo"]

    def model(section: dict[str, Any]) -> RslRlMLPModelCfg:
        distribution = section.get("distribution_cfg")
        return RslRlMLPModelCfg(
            hidden_dims=list(section["hidden_dims"]),
            activation=section["activation"],
            obs_normalization=bool(section["obs_normalization"]),
            distribution_cfg=None
            if distribution is None
            else RslRlMLPModelCfg.GaussianDistributionCfg(init_std=float(distribution["init_std"])),
        )

    import torch

    return RslRlOnPolicyRunnerCfg(
        seed=int(agent["seed"]),
        device="cuda:0" if torch.cuda.is_available() else "cpu",  # the learner's device; --device sets the sim's
        num_steps_per_env=int(ppo["num_steps_per_env"]),
        max_iterations=int(agent["iterations"]),
        save_interval=int(agent["save_interval"]),
        experiment_name=experiment,
        obs_groups={key: list(value) for key, value in agent["teacher_obs_groups"].items()},
        actor=model(ppo["actor"]),
        critic=model(ppo["critic"]),
        algorithm=RslRlPpoAlgorithmCfg(**ppo["algorithm"]),
    )


def depth_model_cfg(encoder_cfg: dict[str, Any], **mlp: Any) -> Any:
    """An Isaac Lab rsl-rl model config (`RslRlMLPModelCfg`) whose model is depthbench's DepthModel: any registered
    depthbench encoder (e.g. {"name": "defm-resnet-18", "weights": "defm", "mode": "frozen"}; DeFM's own depth
    normalization) on every (N, C, H, W) metric-depth group the model's obs set routes to it, then the MLP."""
    from isaaclab.utils import configclass
    from isaaclab_rl.rsl_rl import RslRlMLPModelCfg

    @configclass
    class DepthbenchModelCfg(RslRlMLPModelCfg):
        class_name: str = "depthbench.agents.models:DepthModel"
        encoder_cfg: dict = {}

    mlp = {"activation": "elu", "obs_normalization": False, **mlp}  # required fields of RslRlMLPModelCfg
    return DepthbenchModelCfg(encoder_cfg=dict(encoder_cfg), **mlp)


def ladder_runner_cfg() -> Any:
    return _runner_cfg("anymal-ladder", "depthbench_anymal_ladder_teacher")


def grasp_runner_cfg() -> Any:
    return _runner_cfg("kuka-allegro-grasp", "depthbench_kuka_allegro_grasp_teacher")


gym.register(
    id=LADDER_ID,
    entry_point="depthbench.envs.ladder.isaaclab_task:IsaacLadderEnv",
    disable_env_checker=True,
    kwargs={
        "env_cfg_entry_point": f"{__name__}:ladder_env_cfg",
        "rsl_rl_cfg_entry_point": f"{__name__}:ladder_runner_cfg",
        "default_agent": "rsl_rl",
    },
)
gym.register(
    id=GRASP_ID,
    entry_point="depthbench.envs.grasp.isaaclab_task:IsaacGraspEnv",
    disable_env_checker=True,
    kwargs={
        "env_cfg_entry_point": f"{__name__}:grasp_env_cfg",
        "rsl_rl_cfg_entry_point": f"{__name__}:grasp_runner_cfg",
        "default_agent": "rsl_rl",
    },
)
