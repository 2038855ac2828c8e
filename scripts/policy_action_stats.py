"""How a continuous-action policy steers, and how well a distilled student follows its teacher (docs/embodied-nav.md).

Usage: python scripts/policy_action_stats.py CHECKPOINT [--driver teacher|student] [--steps 200] [--num-envs 8]
       [--seed 5] [--split train]

The checkpoint's policy (for a distilled student: `--driver`, default its teacher) drives greedy; printed per action
dimension: mean |a|, share of negative actions (embodied-nav: vx < 0 is reversing), share of saturated steps
(|a| > 0.95), mean |a_t - a_(t-1)| and the share of steps that flip the sign. For a student also: its mean
|a_student - a_teacher| in the driver's states, and how much its action moves when the depth image is replaced by
free space (10 m everywhere; its memory is restored after the probe): 0 would mean it ignores depth.
"""

import argparse
import json

import numpy as np
import torch

from depthbench.agents.evaluation import checkpoint_in_env

SMALL_TRAIN_ENV = {"scenes_per_family": 1, "episodes_per_scene": 8}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--driver", choices=["teacher", "student"], default="teacher")
    parser.add_argument("--split", choices=["train", "val", "test"], default="train")
    args = parser.parse_args()
    _, env, runner = checkpoint_in_env(
        args.checkpoint, split=args.split, num_envs=args.num_envs, seed=args.seed, env_overrides=SMALL_TRAIN_ENV
    )
    student = hasattr(runner.alg, "student")
    models = [runner.alg.student, runner.alg.teacher] if student else [runner.alg.actor]
    for model in models:
        model.eval()
    obs, actions, follow, depth_effect = env.get_observations(), [], [], []
    for _ in range(args.steps):
        with torch.no_grad():
            if student:
                mine = runner.alg.student(obs).clamp(-1, 1)
                teacher = runner.alg.teacher(obs).clamp(-1, 1)
                memory = runner.alg.student.get_hidden_state()
                memory = memory.clone() if isinstance(memory, torch.Tensor) else memory
                free = obs.clone()
                free["depth"] = torch.full_like(free["depth"], 10.0)
                depth_effect.append((mine - runner.alg.student(free).clamp(-1, 1)).abs().mean(0).numpy())
                runner.alg.student.reset(hidden_state=memory)  # the probe must not advance the student's memory
                follow.append((mine - teacher).abs().mean(0).numpy())
                act = mine if args.driver == "student" else teacher
            else:
                act = runner.alg.actor(obs).clamp(-1, 1)
        actions.append(act.numpy())
        obs, _, dones, _ = env.step(act)
        for model in models:
            model.reset(dones)
    a = np.array(actions, dtype=float)
    stats = {
        "driver": args.driver if student else "policy",
        "split": args.split,
        "steps": args.steps,
        "num_envs": args.num_envs,
        "mean_abs_action": np.abs(a).mean((0, 1)).round(3).tolist(),
        "negative_share": (a < 0).mean((0, 1)).round(3).tolist(),
        "saturated_share": (np.abs(a) > 0.95).mean((0, 1)).round(3).tolist(),
        "mean_abs_change": np.abs(np.diff(a, axis=0)).mean((0, 1)).round(3).tolist(),
        "sign_flip_share": (np.sign(a[1:]) != np.sign(a[:-1])).mean((0, 1)).round(3).tolist(),
    }
    if student:
        stats["student_mean_abs_error"] = np.mean(np.array(follow, dtype=float), 0).round(3).tolist()
        stats["student_free_space_change"] = np.mean(np.array(depth_effect, dtype=float), 0).round(3).tolist()
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
