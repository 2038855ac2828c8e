"""Why the grasp depth students fail (docs/grasp.md, try 3-4): can scratch-cnn localize the object, and where does a
student drive?

Usage:
  python scripts/grasp_student_probe.py perception [--train-steps 600] [--val-steps 200] [--epochs 6]
      [--range-m 10 1.5]
  python scripts/grasp_student_probe.py trace CHECKPOINT [--steps 300] [--num-envs 16] [--seed 3]

perception: the scripted grasp drives 32 train-split envs (each step replaced by a uniform random action with
probability 0.3, so states off the teacher's path are seen too) and 32 val-split envs; scratch-cnn plus a linear head
is fitted by supervised regression (Adam 1e-3, batches of 256) to the object's position (table frame, privileged[3:6])
and its position relative to the grasp frame (privileged[0:3]) from the 64x64 depth alone. Printed per epoch: the
median absolute val error per axis in cm, overall and for objects still on the table near the spawn area. `--range-m`
emulates a shorter depth range for the encoder's [0, 10] m clip (depth x 10 / range).

trace: the student of CHECKPOINT drives greedy on val episodes; every 20 steps the means over envs of the grasp
frame's xy and z offset to the object, the fingers' closure (mean proximal joint angle, rad), |student - teacher| for
hand and arm actions, and the error of the student's auxiliary object-position prediction (when it has one).
"""

import argparse
import time

import numpy as np
import torch

TASK = "kuka-allegro-grasp"


def collect(split: str, steps: int, seed: int) -> dict[str, np.ndarray]:
    from depthbench.config import apply_overrides
    from depthbench.envs import make_task, task_config
    from depthbench.envs.grasp.scripted import ScriptedGrasp

    cfg = apply_overrides(task_config(TASK), [f"split={split}", "sim.nthread=1"])
    env = make_task(TASK, num_envs=32, seed=seed, overrides=cfg)
    controller = ScriptedGrasp(env)
    rng = torch.Generator().manual_seed(seed)
    obs = env.get_observations()
    depth, privileged = [], []
    for _ in range(steps):
        actions = controller.act(obs)
        depth.append(obs["depth"].numpy().copy())
        privileged.append(obs["privileged"].numpy().copy())
        random = torch.rand(env.num_envs, 1, generator=rng) < 0.3
        obs, _, _, _ = env.step(torch.where(random, torch.rand(actions.shape, generator=rng) * 2 - 1, actions))
    return {"depth": np.concatenate(depth), "privileged": np.concatenate(privileged)}


def perception(args: argparse.Namespace) -> None:
    from depthbench.encoders import create

    train, val = collect("train", args.train_steps, 0), collect("val", args.val_steps, 1)
    for range_m in args.range_m:

        def tensors(data: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.from_numpy(data["depth"]).float() * (10.0 / range_m)  # noqa: B023 - used within the loop
            p = data["privileged"]
            return x, torch.from_numpy(np.concatenate([p[:, 3:6], p[:, 0:3]], 1)).float()

        torch.manual_seed(0)
        (xt, yt), (xv, yv) = tensors(train), tensors(val)
        mean, std = yt.mean(0), yt.std(0)
        encoder = create("scratch-cnn", weights=None, mode="finetune")
        head = torch.nn.Linear(encoder.feature_dim, 6)
        optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-3)

        def predict(x: torch.Tensor) -> torch.Tensor:
            return head(encoder.encode_depth(x).feature) * std + mean  # noqa: B023

        near = (yv[:, 2].abs() < 0.06) & (yv[:, 0] < 0.0) & (yv[:, 0] > -0.25) & (yv[:, 1].abs() < 0.15)
        print(f"range {range_m} m: {len(xt)} train / {len(xv)} val frames, {near.float().mean():.2f} of val near spawn")
        for epoch in range(args.epochs):
            start = time.time()
            for batch in torch.randperm(len(xt)).split(256):
                loss = (((predict(xt[batch]) - yt[batch]) / std) ** 2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                error = torch.cat([predict(xv[i : i + 512]) - yv[i : i + 512] for i in range(0, len(xv), 512)]).abs()
            overall, on_table = error.median(0).values * 100, error[near].median(0).values * 100
            print(
                f"  epoch {epoch + 1}: median |error| cm, object xyz {overall[:3].numpy().round(2)}, relative to the "
                f"grasp frame {overall[3:].numpy().round(2)}; near spawn, object xyz {on_table[:3].numpy().round(2)} "
                f"({time.time() - start:.0f} s)",
                flush=True,
            )


def trace(args: argparse.Namespace) -> None:
    from depthbench.agents.evaluation import checkpoint_in_env
    from depthbench.envs.grasp.spec import POLICY_LAYOUT, PRIVILEGED_LAYOUT

    cfg, env, runner = checkpoint_in_env(args.checkpoint, split="val", num_envs=args.num_envs, seed=args.seed)
    student, teacher = runner.alg.student, runner.alg.teacher
    auxiliary = cfg["distillation"]["algorithm"].get("auxiliary") or {}
    student.eval()
    obs = env.get_observations()
    print("step  xy offset (m)  z offset (m)  closure (rad)  |hand a - teacher|  |arm a - teacher|  aux error (m)")
    with torch.inference_mode():
        for step in range(args.steps):
            action, teacher_action = student(obs), teacher(obs)
            relative = obs["privileged"][:, PRIVILEGED_LAYOUT["object_rel_grasp"]]
            aux_error = float("nan")
            if student.aux_head is not None and auxiliary.get("indices", [])[:3] == [0, 1, 2]:
                predicted = student.aux_head(student.last_latent)[:, :3] * auxiliary["scale"]
                aux_error = (predicted - relative).norm(dim=1).mean().item()
            if step % 20 == 0:
                closure = obs["policy"][:, POLICY_LAYOUT["hand_q"]][:, [1, 5, 9]].mean().item()
                print(
                    f"{step:4d}  {relative[:, :2].norm(dim=1).mean():13.3f}  {relative[:, 2].mean():12.3f}  "
                    f"{closure:13.3f}  {(action[:, 6:] - teacher_action[:, 6:]).abs().mean():18.3f}  "
                    f"{(action[:, :3] - teacher_action[:, :3]).abs().mean():17.3f}  {aux_error:13.3f}"
                )
            obs, _, dones, _ = env.step(action)
            student.reset(dones)
            teacher.reset(dones)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    probe = commands.add_parser("perception")
    probe.add_argument("--train-steps", type=int, default=600)
    probe.add_argument("--val-steps", type=int, default=200)
    probe.add_argument("--epochs", type=int, default=6)
    probe.add_argument("--range-m", type=float, nargs="+", default=[10.0, 1.5])
    drive = commands.add_parser("trace")
    drive.add_argument("checkpoint")
    drive.add_argument("--steps", type=int, default=300)
    drive.add_argument("--num-envs", type=int, default=16)
    drive.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.command == "perception":
        perception(args)
    else:
        trace(args)


if __name__ == "__main__":
    main()
