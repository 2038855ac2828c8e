"""The scripted grasp as a DAgger teacher: `scripted:grasp` resolves to the scripted controller, acts from the state
alone, and distills into a depth student whose checkpoint loads weights-only and evaluates against it."""

import json

import numpy as np
import pytest
import torch

from depthbench.agents import references, scripted_teachers, training
from depthbench.agents.config import resolve_config
from depthbench.agents.evaluation import evaluate_checkpoint
from depthbench.benchmarks.cli import main
from depthbench.envs import make_task, task_config
from depthbench.envs.grasp.scripted import (
    APPROACH,
    CLOSE,
    DESCEND,
    TASK,
    GraspConstants,
    GraspController,
    GraspParams,
    ScriptedGrasp,
    grasp_pose,
)
from depthbench.errors import DepthbenchError

# 2 envs, 8-step rollouts, 0.4 s episodes (20 control steps; hold 0.1 s so an episode can still succeed), a small MLP
TINY = [
    "num_envs=2",
    "distillation.num_steps_per_env=8",
    "distillation.algorithm.gradient_length=8",
    "distillation.student.hidden_dims=[32]",
    "env.episode_length_s=0.4",
    "env.success.hold_time_s=0.1",
    "env.sim.nthread=1",
    "eval.num_envs=2",
    "eval.episodes=2",
]


@pytest.fixture(scope="module")
def grasp_env():
    overrides = {"depth": {"enabled": False}, "sim": {"nthread": 1}, "objects": {"per_family": 2}}
    return make_task(TASK, num_envs=4, seed=3, overrides=overrides)


def test_scripted_teacher_resolves_by_name_and_acts_like_the_controller(grasp_env):
    env = grasp_env
    obs = env.reset(seed=3)
    cfg = {"task": TASK, "env": task_config(TASK)}
    teacher_cfg = scripted_teachers.teacher_config("scripted:grasp", cfg)
    assert teacher_cfg["teacher_obs_groups"]["actor"] == ["policy", "privileged"]
    actor = {k: v for k, v in teacher_cfg["ppo"]["actor"].items() if k != "class_name"}
    teacher = scripted_teachers.ScriptedTeacher(obs, {"teacher": ["policy", "privileged"]}, "teacher", 22, **actor)
    teacher.reset()
    controller = ScriptedGrasp(env)
    phases = set()
    for _ in range(120):  # approach, descent, closing and lifting, with the resets rsl-rl sends after each step
        expected = controller.act(obs)
        # float32 observations, the same float64 arithmetic on both paths: 1e-6 absorbs float32 rounding only
        assert torch.allclose(teacher(obs), expected, atol=1e-6)
        phases |= set(controller.controller.phase.tolist())
        obs, _, dones, _ = env.step(expected)
        teacher.reset(dones)
    assert {APPROACH, DESCEND, CLOSE} <= phases
    # the hand constants read from Menagerie's model alone equal the task's compiled control ranges
    constants = dict(actor["constants"])
    assert GraspParams(**constants.pop("params")) == GraspParams()
    from_env, from_cfg = GraspConstants.from_env(env), GraspConstants(**constants)
    assert np.allclose(from_env.open_action, from_cfg.open_action, atol=1e-9)
    assert np.allclose(from_env.closed_action, from_cfg.closed_action, atol=1e-9)


def test_unknown_scripted_teacher_and_wrong_task_are_clear_errors():
    with pytest.raises(DepthbenchError, match="unknown scripted teacher 'scripted:nope'; available: scripted:grasp"):
        scripted_teachers.teacher_config("scripted:nope", {"task": TASK, "env": {}})
    with pytest.raises(DepthbenchError, match="drives task 'kuka-allegro-grasp', not 'pointnav'"):
        scripted_teachers.teacher_config("scripted:grasp", {"task": "pointnav", "env": {}})


def _move_object(privileged, offset_m):
    """The observation with the object moved by `offset_m` (world frame) and the robot where it was."""
    privileged = privileged.copy()
    privileged[:, 0:3] += offset_m
    return privileged


def test_scripted_grasp_memory_gives_way_to_the_state(grasp_env):
    """A phase the state contradicts starts over: closed on an object that is 15 cm away, or descending 10 cm off it
    in xy (a DAgger student moved the robot, not the controller), and a reset forgets only the envs it names."""
    obs = grasp_env.reset(seed=5)
    policy = obs["policy"].numpy().astype(np.float64)
    privileged = obs["privileged"].numpy().astype(np.float64)
    params = GraspParams()
    controller = GraspController(4, GraspConstants.from_env(grasp_env), params)
    grasp_pos, at_grasp = grasp_pose(policy, privileged, params)
    near = _move_object(privileged, grasp_pos - at_grasp)  # the object exactly at the grasp pose
    controller.phase[:] = [CLOSE, CLOSE, DESCEND, DESCEND]
    controller.lift_start[:] = grasp_pos
    far = near.copy()
    far[0] = _move_object(near, [0.15, 0.0, 0.0])[0]  # env 0: nothing in the hand any more
    far[2] = _move_object(near, [0.0, 0.1, 0.0])[2]  # env 2: the descent is off the object
    actions = controller.act(policy, far)
    assert controller.phase.tolist() == [APPROACH, CLOSE, APPROACH, CLOSE]  # 1 keeps closing, 3 reached the pose
    constants = controller.constants
    assert np.allclose(actions[0, 6:], constants.open_action) and np.allclose(actions[1, 6:], constants.closed_action)
    # the arm heads for the hover point above the object (P control, clipped to the action range)
    above = grasp_pose(policy, far, params)[1][0] + [0.0, 0.0, params.hover_m]
    assert np.allclose(actions[0, :3], np.clip((above - grasp_pos[0]) / constants.ee_step_m, -1, 1))
    controller.reset(np.array([1]))
    assert controller.phase.tolist() == [APPROACH, APPROACH, APPROACH, CLOSE]


def tiny_cfg(**flags):
    flags = {"iterations": 2, "save_interval": 2, **flags}
    return resolve_config(TASK, flags=flags, overrides=TINY)


@pytest.fixture(scope="module")
def dagger():
    cfg = tiny_cfg(**{"distillation.algorithm.dagger_beta_decay": 0.5})
    teacher_cfg = scripted_teachers.teacher_config("scripted:grasp", cfg)
    setup = training.PolicySetup(cfg, kind="distillation", teacher_cfg=teacher_cfg)
    env = setup.make_env(seed=1, noise_spec="clean", split=None, num_envs=2, generator=torch.Generator())
    runner = setup.runner(env, log_dir=None)
    return runner.alg, env


def test_continuous_distillation_loss_matches_hand_computation(dagger):
    alg, _ = dagger
    assert alg.storage.privileged_actions.shape == (8, 2, 22)  # the teacher's action is the label
    student = torch.tensor([[0.5, -1.0], [0.0, 2.0]])
    teacher = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    # by hand: squared errors 0.25, 4, 0, 4 -> mean 2.0625
    assert alg.loss_fn(student, teacher).item() == pytest.approx(2.0625, rel=1e-6)
    huber = type(alg)(alg.student, alg.teacher, alg.storage, loss_type="huber", gradient_length=8).loss_fn
    # Huber (delta 1): 0.5 * 0.25, |2| - 0.5, 0, |2| - 0.5 -> (0.125 + 1.5 + 0 + 1.5) / 4
    assert huber(student, teacher).item() == pytest.approx(0.78125, rel=1e-6)


def test_dagger_executes_the_teacher_with_probability_beta(dagger):
    alg, env = dagger
    obs = env.get_observations()

    def act_from_episode_start():  # the same state every call: the teacher's episode memory restarts too
        alg.teacher.reset()
        return alg.act(obs)

    with torch.inference_mode():
        alg.teacher.reset()
        teacher_action = alg.teacher(obs)
        torch.manual_seed(0)
        alg.num_updates = 0  # beta = 0.5^0: the teacher always acts
        assert all(torch.equal(act_from_episode_start(), teacher_action) for _ in range(5))
        assert torch.equal(alg.transition.privileged_actions, teacher_action)  # the label: the teacher's action
        alg.num_updates = 2  # beta = 0.25
        executed = torch.stack([act_from_episode_start() for _ in range(400)])  # (400, 2 envs, 22)
    teacher_rows = (executed == teacher_action).all(dim=-1)
    # the student's Gaussian sample never equals the teacher's action in all 22 dimensions by chance
    assert ((executed != teacher_action).all(dim=-1) | teacher_rows).all()
    share = teacher_rows.float().mean().item()
    # 800 Bernoulli(0.25) draws: standard error 0.0153; 4 standard errors
    assert abs(share - 0.25) < 4 * (0.25 * 0.75 / 800) ** 0.5
    alg.num_updates = 0


def test_distill_from_scripted_teacher_writes_a_weights_only_checkpoint_that_evaluates_and_publishes(
    tmp_path, monkeypatch
):
    out = tmp_path / "student"
    argv = ["distill", TASK, "--teacher", "scripted:grasp", "--out", str(out), "--no-progress"]
    argv += ["--iterations", "2", "--set=save_interval=2", *[f"--set={o}" for o in TINY]]
    assert main(argv) == 0
    checkpoint = out / "checkpoints/model_2.pt"
    data = torch.load(checkpoint, weights_only=True)
    assert data["teacher_state_dict"] == {}  # nothing learned, nothing stored: the config names the controller
    assert data["depthbench"]["train_cfg"]["teacher"]["class_name"] == scripted_teachers.MODEL_CLASS
    result = evaluate_checkpoint(checkpoint, episodes=2, num_envs=2, show_progress=False)
    assert result["kind"] == "distillation" and result["episodes"] == 2
    teacher_sr = result["teacher"]["metrics"]["success_rate"]["mean"]
    student_sr = result["metrics"]["success_rate"]["mean"]
    if teacher_sr > 0:
        assert result["normalized_to_teacher"]["mean"] == pytest.approx(student_sr / teacher_sr)
    # the run knows its teacher: --resume needs no --teacher
    assert main(["distill", TASK, "--resume", "--iterations", "3", "--out", str(out), "--no-progress"]) == 0
    assert training.load_checkpoint(out / "checkpoints/model_3.pt")["iter"] == 3
    # published as a reference with no teacher entry: the controller has no weights, the student names it
    argv = ["eval", TASK, "--checkpoint", str(out), "--episodes", "2", "--num-envs", "2", "--no-progress"]
    assert main(argv) == 0
    monkeypatch.setenv(references.ENV_VAR, str(tmp_path / "store"))
    assert main(["references", "add", str(out), "--task", TASK, "--role", "student"]) == 0
    (entry,) = references.entries(tmp_path / "store")
    assert references.describe(entry)["teacher"] == "scripted:grasp"
    stored = json.loads((entry.path / "manifest.json").read_text())
    assert stored["teacher_checkpoint"] == "scripted:grasp"
    assert training.load_checkpoint(entry.checkpoint)["teacher_state_dict"] == {}


def test_update_does_not_replay_resets_on_the_scripted_teachers_memory(dagger):
    """rsl-rl's update calls teacher.reset with the rollout's stored dones; the teacher's episodes have moved on."""
    alg, env = dagger
    obs = env.get_observations()
    with torch.inference_mode():
        for _ in range(8):  # one rollout (num_steps_per_env = 8)
            obs, rewards, dones, extras = env.step(alg.act(obs))
            alg.process_env_step(obs, rewards, dones, extras)
    controller = alg.teacher.controller.controller  # ScriptedTeacher -> registry adapter -> GraspController
    controller.phase[:] = CLOSE
    controller.phase_steps[:] = 7
    alg.storage.dones[2] = 1  # an episode that ended mid-rollout, replayed by the update
    alg.update()
    assert controller.phase.tolist() == [CLOSE, CLOSE] and controller.phase_steps.tolist() == [7, 7]
    alg.teacher.reset(torch.tensor([False, True]))  # outside the update, an ended episode is forgotten
    assert controller.phase.tolist() == [CLOSE, APPROACH]
