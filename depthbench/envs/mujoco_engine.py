"""Batched MuJoCo engine: N copies of one compiled model stepped together, with depth from camera rangefinders.

Shared by the MuJoCo tasks (kuka-allegro-grasp, anymal-ladder). A task owns its scene (an `mujoco.MjSpec`),
observations, rewards and resets; this module owns stepping, depth images and per-env model parameters.

Stepping: `mujoco.batch.Batch` (MuJoCo >= 4.0), a C thread pool that releases the GIL, one persistent MjData per
env. Measured on the 2-core dev box, 64 envs, 10 substeps per control step, one 64x64 depth camera, control steps/s:
- quiet box (load ~0.9, first grasp prototype with the arm's meshes in view): Batch on 2 threads 784, on 1 thread
  392, a Python loop over MjData 389; without depth 8730, 4360, 4050;
- final grasp scene at 14:19 UTC with other jobs on the second core (load ~3.9): 807, 792, 785; without depth 4794,
  4773, 5189 (no second core free, so the pool cannot help).
Batch is kept: twice the loop's rate when a second core is free, never far below it. Its results are bit-identical
at any thread count (mujoco.batch docstring), so seeded rollouts do not depend on `nthread`.

Depth: a `<rangefinder camera=... data="depth">` sensor per camera: one ray per pixel, planar depth (distance from
the camera plane) in metres, which this engine returns with "no return" (MuJoCo's -1, or beyond `max_range_m`) as 0.
Sensors are switched off (mjDSBL_SENSOR) during the physics substeps and computed once per control step, at the
state the policy sees, by a forward pass after the last substep: a 64x64 image costs as much as ~10 substeps, so
casting it every substep would cost ~10x. (The rangefinder `interval` attribute was tried first: its schedule
drifts with floating-point time, leaving images a substep or a control step stale.)
MuJoCo excludes the geoms of the camera's own body from its rays, and geoms whose alpha is 0. Rangefinders know no
geom groups, so `ray_groups` is applied before compiling: visual-only geoms outside those groups are deleted (their
bodies keep the mass and inertia they gave), collision geoms outside them become transparent. Use it to keep a
duplicate representation out of the rays (e.g. a hand's visual meshes when its collision boxes match them), never to
hide what a real sensor would see. Ray cost (measured, one core): every geom costs every ray ~4 ns, transparent or
not, and a ray that enters a mesh's bounds ~5 us; so keep meshes out of view and the geom count low (the grasp
scene's 36 geoms: ~1 ms per 64x64 image). A camera on the world body gets a mount body of its own, so the floor
stays visible.

Threads: the batch's threads and torch's intra-op threads share the cores. In a training process on 2 cores, torch's
default 2 threads made PPO iterations up to 10x slower and erratic (measured: 105 vs 655 env-steps/s); run training
with OMP_NUM_THREADS=1.

API, for a task:

    spec = mujoco.MjSpec.from_file(...)            # build the scene; attach robots with spec.attach(...)
    cams = [DepthCamera("front", body="world", pos=(1.2, 0, 0.9), lookat=(0.5, 0, 0.3), fovy_deg=60,
                        width=64, height=64)]
    engine = BatchedMujoco(spec, num_envs=64, decimation=10, cameras=cams, ray_groups=(0, 1, 2))
    engine.ctrl[:] = targets                       # (N, nu) live view of every env's controls
    engine.step()                                  # `decimation` substeps, then depth at the new state
    depth = engine.depth()                         # (N, C, H, W) float32 metres, 0 = no return
    engine.qpos, engine.qvel                       # (N, nq), (N, nv) live views; write them, then forward(ids)
    masses = engine.expand("body_mass")            # (N, nbody) per-env model values (domain randomization)
    engine.set_const(ids)                          # after editing fields that mj_setConst derives from
    engine.reset(ids, qpos=..., qvel=...)          # reset a subset of envs (defaults or keyframe), then forward
    engine.sensor("touch_ff")                      # (N, dim) live view of one sensor's data
    engine.render_view(0, ViewCamera(...), 256, 256)  # (H, W, 3) uint8 third-person image of env 0 (videos)

Per-env geometry (e.g. a ladder per env), which expanded fields cannot express because collision and ray bounding
volumes are compiled from it: build with per_env_models=True, then per reset
    engine.set_models(ids, [engine.compile_variant(spec_i) for spec_i in specs]); engine.reset(ids, qpos=...)
`SingleTaskEnv` and `async_vector_baseline` give any task the one-env-per-process gymnasium AsyncVectorEnv baseline.

Third-person images (`render_view`, for episode videos) use mujoco.Renderer, offscreen OpenGL through the backend
that MUJOCO_GL names when mujoco is first imported (depthbench defaults it to EGL on Linux: no display needed,
Mesa's software rasterizer or a GPU driver). Without a working backend `render_view` raises OffscreenUnavailable.

`nthread=0` uses every CPU (at most one thread per env). The model is compiled once; per-env variation lives in
expanded model fields, or in per-env models.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from mujoco import batch as mj_batch

from depthbench.envs.camera import DepthCamera
from depthbench.envs.vector_adapter import as_action_tensor, single_action_space
from depthbench.errors import DepthbenchError

_SENSORS_OFF = int(mujoco.mjtDisableBit.mjDSBL_SENSOR)
_DEPTH_BIT = 1 << int(mujoco.mjtRayDataField.mjRAYDATA_DEPTH)


def gl_backend() -> str:
    """The OpenGL backend mujoco loaded at import ('egl', 'osmesa', 'glfw', ...), or 'none' if it found none."""
    from mujoco.rendering.classic import gl_context

    context = getattr(gl_context, "GLContext", None)
    return context.__module__.rsplit(".", 1)[-1] if context is not None else "none"


@functools.cache
def _load_triton_first() -> None:
    """Import triton (if installed) before the first offscreen OpenGL context.

    Triton bundles its own LLVM; importing it after Mesa's software rasterizer (llvmpipe, behind EGL on machines
    without a GPU driver) has loaded the system LLVM crashes the process (measured: `import triton` after one MuJoCo
    EGL render -> SIGSEGV; the other order works). torch imports triton lazily (torch._dynamo, torchvision.ops), so
    it could otherwise come after a video has started."""
    if importlib.util.find_spec("triton") is not None:
        importlib.import_module("triton")


def probe_offscreen() -> str:
    """'ok (backend ...), OpenGL renderer NAME' when a 16x16 offscreen MuJoCo render works, else why not."""
    _load_triton_first()
    model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='0.1'/></worldbody></mujoco>")
    setting = f"backend {gl_backend()}, MUJOCO_GL={os.environ.get('MUJOCO_GL', '')!r}"
    try:
        with mujoco.Renderer(model, 16, 16) as renderer:
            renderer.update_scene(mujoco.MjData(model))
            renderer.render()
            from OpenGL import GL

            name = GL.glGetString(GL.GL_RENDERER)
    except Exception as exc:  # noqa: BLE001 - reported: videos then fall back to depth-only frames
        return f"unavailable ({setting}): {type(exc).__name__}: {str(exc)[:200]}"
    return f"ok ({setting}), OpenGL renderer {name.decode() if isinstance(name, bytes) else name}"


class OffscreenUnavailable(DepthbenchError):
    """No OpenGL context for offscreen rendering (MUJOCO_GL names a backend this machine lacks)."""


@dataclass(frozen=True)
class ViewCamera:
    """A fixed third-person camera (MuJoCo's free mjvCamera): looks at `lookat` from `distance_m` away, at
    `azimuth_deg` around the vertical and `elevation_deg` (negative: from above). `geom_groups` are the geom groups
    drawn (MuJoCo's default 0-2 shows visual meshes; tasks whose visual meshes were dropped show collision group 3)."""

    lookat: tuple[float, float, float]
    distance_m: float
    azimuth_deg: float
    elevation_deg: float
    geom_groups: tuple[int, ...] = (0, 1, 2)


def add_depth_camera(spec: mujoco.MjSpec, camera: DepthCamera) -> None:
    """Add `camera` and its planar-depth rangefinder (one ray per pixel) to `spec`."""
    camera.validate()
    body = spec.worldbody if camera.body == "world" else spec.body(camera.body)
    if body is None:
        raise DepthbenchError(f"camera '{camera.name}': no body '{camera.body}' in the scene")
    if camera.body == "world":
        # Rangefinders skip the geoms of their camera's body; a world-fixed camera gets a mount of its own so that
        # the world's geoms (floor, walls) stay visible.
        body = body.add_body(name=f"{camera.name}_mount")
    cam = body.add_camera(
        name=camera.name, pos=list(camera.pos), fovy=camera.fovy_deg, resolution=[camera.width, camera.height]
    )
    cam.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
    cam.alt.xyaxes = camera.xyaxes().tolist()
    sensor = spec.add_sensor(
        name=f"{camera.name}_depth",
        type=mujoco.mjtSensor.mjSENS_RANGEFINDER,
        objtype=mujoco.mjtObj.mjOBJ_CAMERA,
        objname=camera.name,
    )
    sensor.intprm[0] = _DEPTH_BIT


class BatchedMujoco:
    """`num_envs` simulations of one compiled MjModel, stepped `decimation` substeps per control step."""

    def __init__(
        self,
        spec: mujoco.MjSpec,
        num_envs: int,
        *,
        decimation: int,
        cameras: Sequence[DepthCamera] = (),
        ray_groups: Sequence[int] | None = None,
        nthread: int = 0,
        per_env_models: bool = False,
    ) -> None:
        if num_envs < 1:
            raise DepthbenchError(f"num_envs must be >= 1, got {num_envs}")
        if decimation < 1:
            raise DepthbenchError(f"decimation must be >= 1, got {decimation}")
        self.num_envs = num_envs
        self.decimation = decimation
        self.cameras = tuple(cameras)
        if len({(c.width, c.height) for c in self.cameras}) > 1:
            raise DepthbenchError("all depth cameras of a task must share one resolution (they stack as channels)")
        self.ray_groups = None if ray_groups is None else set(ray_groups)
        self.control_dt = spec.option.timestep * decimation
        self.model = self.compile_variant(spec)
        # No more threads than envs: a single-env engine (one per process in the baseline) runs on its own thread.
        nthread = min(nthread or os.cpu_count() or 1, num_envs)
        self.batch = mj_batch.Batch(self.model, num_envs, nthread=nthread, persistent=True)
        self.qpos = self.batch.bind("qpos")
        self.qvel = self.batch.bind("qvel")
        self.ctrl = self.batch.bind("ctrl")
        self.time = self.batch.bind("time")
        self._sensordata = self.batch.bind("sensordata")
        self._depth_slices = [self._sensor_slice(f"{c.name}_depth") for c in self.cameras]
        # The stage the forward pass after a control step runs to: the latest any sensor needs (touch: acceleration).
        self._sensor_stage = int(max(self.model.sensor_needstage, default=mujoco.mjtStage.mjSTAGE_POS))
        self._base_disableflags = int(self.model.opt.disableflags)
        # Per-env models (set_models) and expanded fields exclude each other in mujoco.batch.
        self._models: list[mujoco.MjModel] | None = [self.model] * num_envs if per_env_models else None
        if self._models is None:
            self._disableflags = self.batch.expand("opt.disableflags")
        else:
            self.batch.set_models(self._models)
        self.batch.reset(stage=mujoco.mjtStage.mjSTAGE_NONE)
        self.forward()
        self._views: dict[int, dict[str, Any]] = {}  # per env: offscreen renderer, scratch model/data (render_view)

    def compile_variant(self, spec: mujoco.MjSpec) -> mujoco.MjModel:
        """Compile `spec` with this engine's depth cameras and ray groups: the engine's own model, or another
        parameterization of its scene (same elements, e.g. a ladder of another angle) for `set_models`."""
        for camera in self.cameras:
            add_depth_camera(spec, camera)
        if self.ray_groups is not None:
            _hide_from_rays(spec, self.ray_groups)
        try:
            return spec.compile()
        except ValueError as exc:
            raise DepthbenchError(f"the MuJoCo scene does not compile: {exc}") from None

    def set_models(self, ids: np.ndarray, models: Sequence[mujoco.MjModel]) -> None:
        """Run envs `ids` on `models` (from `compile_variant`; reset those envs next): per-env scene geometry that
        expanded fields cannot express, since collision and ray bounding volumes are compiled from it. Needs an
        engine built with per_env_models=True, which randomizes other parameters in these models instead of `expand`."""
        if self._models is None:
            raise DepthbenchError("set_models needs BatchedMujoco(..., per_env_models=True)")
        for env_id, model in zip(np.asarray(ids).tolist(), models, strict=True):
            self._models[env_id] = model
        try:
            self.batch.set_models(self._models)
        except ValueError as exc:
            raise DepthbenchError(f"a per-env model does not match the engine's layout: {exc}") from None

    def _set_sensors(self, enabled: bool) -> None:
        flags = self._base_disableflags if enabled else self._base_disableflags | _SENSORS_OFF
        if self._models is None:
            self._disableflags[:] = flags
        else:  # the batch reads caller models live
            for model in {id(m): m for m in self._models}.values():
                model.opt.disableflags = flags

    @property
    def nthread(self) -> int:
        return self.batch.nthread

    def _sensor_slice(self, name: str) -> slice:
        try:
            sensor = self.model.sensor(name)
        except KeyError:
            raise DepthbenchError(f"no sensor '{name}' in the model") from None
        start = int(self.model.sensor_adr[sensor.id])
        return slice(start, start + int(self.model.sensor_dim[sensor.id]))

    def sensor(self, name: str) -> np.ndarray:
        """(N, dim) read-only live view of sensor `name` in every env."""
        return self._sensordata[:, self._sensor_slice(name)]

    def bind(self, field: str) -> np.ndarray:
        """(N, ...) live view of an MjData field (state fields writable), see mujoco.batch.Batch.bind."""
        return self.batch.bind(field)

    def expand(self, field: str) -> np.ndarray:
        """(N, ...) writable per-env values of an MjModel field (or 'opt.<name>'), for domain randomization."""
        if self._models is not None:
            raise DepthbenchError(f"expand('{field}') is unavailable with per-env models; edit those models instead")
        return self.batch.expand(field)

    def set_const(self, ids: np.ndarray | None = None) -> None:
        """Recompute derived model constants (e.g. after mass edits) in envs `ids` (None: all)."""
        self.batch.set_const(ids)

    def step(self) -> None:
        """Advance every env by one control step; contacts, sensors and depth then describe the new state."""
        self._set_sensors(False)
        self.batch.step(nstep=self.decimation)
        self._set_sensors(True)
        self.forward()

    def forward(self, ids: np.ndarray | None = None) -> None:
        """Recompute positions, contacts, sensors and depth of envs `ids` after writing their state."""
        self.batch.forward(ids, stage=self._sensor_stage)

    def reset(
        self,
        ids: np.ndarray | None = None,
        *,
        qpos: np.ndarray | None = None,
        qvel: np.ndarray | None = None,
        keyframe: int = -1,
    ) -> None:
        """Reset envs `ids` (sorted, unique; None: all) to the model defaults or a keyframe, write the given
        (len(ids), nq) / (len(ids), nv) state, and forward them so depth and sensors are current."""
        ids = None if ids is None else np.asarray(ids, dtype=np.int64)
        if ids is not None and ids.size == 0:
            return
        self.batch.reset(ids, keyframe=keyframe, stage=mujoco.mjtStage.mjSTAGE_NONE)
        rows = slice(None) if ids is None else ids
        if qpos is not None:
            self.qpos[rows] = qpos
        if qvel is not None:
            self.qvel[rows] = qvel
        self.forward(ids)

    def render_view(self, env_index: int, camera: ViewCamera, width_px: int, height_px: int) -> np.ndarray:
        """(height_px, width_px, 3) uint8 image of env `env_index` at its current state, seen from `camera`.

        The env's own model (per-env fields or per-env model) and state are copied out of the batch, so the image
        shows what that env simulates. Raises OffscreenUnavailable when no OpenGL context can be made."""
        view = self._views.setdefault(env_index, {})
        # per-env models are used as they are; otherwise the batch's model with env_index's expanded fields is
        # written into a scratch copy
        model = self.batch.get_model(env_index, view.get("model")) if self._models is None else self._models[env_index]
        if view.get("model") is not model or view.get("size") != (width_px, height_px):
            if "renderer" in view:
                view["renderer"].close()
            model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), width_px)
            model.vis.global_.offheight = max(int(model.vis.global_.offheight), height_px)
            model.vis.quality.offsamples = 0  # no multisampling: Mesa's software rasterizer pays for every sample
            _load_triton_first()
            try:
                renderer = mujoco.Renderer(model, height_px, width_px)
            except Exception as exc:  # noqa: BLE001 - every backend failure means the same: no offscreen GL here
                raise OffscreenUnavailable(
                    f"MuJoCo offscreen rendering failed with its {gl_backend()} OpenGL backend ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); start Python with MUJOCO_GL=egl (libegl1, libegl-mesa0) or MUJOCO_GL=osmesa "
                    "(libosmesa6) set, before mujoco is imported"
                ) from None
            # Shadows and reflections cost 5-20x the rest of a 256x256 frame on Mesa's llvmpipe (measured 17 vs 340 ms
            # for the grasp scene on the 2-core dev box); a video frame does without them.
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
            view.clear()
            view.update(model=model, size=(width_px, height_px), renderer=renderer, data=mujoco.MjData(model))
        data = self.batch.get_data(env_index, view["data"])
        mujoco.mj_kinematics(model, data)  # a scratch MjData: recompute the poses the scene is drawn from
        free = mujoco.MjvCamera()
        free.type = mujoco.mjtCamera.mjCAMERA_FREE
        free.lookat[:] = camera.lookat
        free.distance, free.azimuth, free.elevation = camera.distance_m, camera.azimuth_deg, camera.elevation_deg
        option = mujoco.MjvOption()
        option.geomgroup[:] = [int(g in camera.geom_groups) for g in range(len(option.geomgroup))]
        view["renderer"].update_scene(data, camera=free, scene_option=option)
        return view["renderer"].render()

    def depth(self) -> np.ndarray:
        """(N, C, H, W) float32 planar depth in metres of every camera; 0 where a ray has no return."""
        if not self.cameras:
            return np.zeros((self.num_envs, 0, 0, 0), np.float32)
        height, width = self.cameras[0].height, self.cameras[0].width
        out = np.empty((self.num_envs, len(self.cameras), height, width), np.float32)
        for channel, (camera, part) in enumerate(zip(self.cameras, self._depth_slices, strict=True)):
            image = self._sensordata[:, part].reshape(self.num_envs, height, width)
            out[:, channel] = np.where((image > 0) & (image <= camera.max_range_m), image, 0.0)
        return out


def _hide_from_rays(spec: mujoco.MjSpec, ray_groups: set[int]) -> None:
    """Keep geoms outside `ray_groups` out of the rangefinders' rays.

    Visual-only geoms (no contacts) there are deleted, their bodies keeping the mass and inertia they gave: a
    rangefinder pays for every geom, transparent or not, and meshes cost the most. Collision geoms there become
    transparent (alpha 0), the one exclusion MuJoCo's rangefinders honour.
    """
    hidden = [geom for geom in spec.geoms if geom.group not in ray_groups]
    visual = [geom for geom in hidden if geom.contype == 0 and geom.conaffinity == 0]
    if visual:
        model = spec.compile()
        for body in {geom.parent.name: geom.parent for geom in visual}.values():
            index = model.body(body.name).id
            body.explicitinertial = True
            body.mass = float(model.body_mass[index])
            body.ipos = model.body_ipos[index].tolist()
            body.iquat = model.body_iquat[index].tolist()
            body.inertia = model.body_inertia[index].tolist()
        for geom in visual:
            spec.delete(geom)
        used = {geom.meshname for geom in spec.geoms if geom.type == mujoco.mjtGeom.mjGEOM_MESH}
        for mesh in [mesh for mesh in spec.meshes if mesh.name not in used]:
            spec.delete(mesh)  # assets of the deleted meshes: memory only, but ~16 MB for the iiwa + Allegro
    for geom in hidden:
        if geom.contype != 0 or geom.conaffinity != 0:
            geom.material = ""
            geom.rgba = [geom.rgba[0], geom.rgba[1], geom.rgba[2], 0.0]


class SingleTaskEnv(gym.Env):
    """A depthbench task built with one env, as a gymnasium Env: the one-env-per-process reference that the batched
    engine is benchmarked against. The task resets itself inside `step` (rsl-rl convention); `reset` restarts it."""

    def __init__(self, task: str, cfg: dict[str, Any], seed: int) -> None:
        from depthbench.envs import get_task

        self.task = get_task(task).factory(cfg=cfg, num_envs=1, seed=seed, device="cpu")
        obs = self.task.get_observations()
        self.observation_space = gym.spaces.Dict(
            {key: gym.spaces.Box(-np.inf, np.inf, tuple(value.shape[1:]), np.float32) for key, value in obs.items()}
        )
        self.action_space = single_action_space(self.task)

    @staticmethod
    def _numpy(obs: Any) -> dict[str, np.ndarray]:
        return {key: value[0].numpy() for key, value in obs.items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        return self._numpy(self.task.reset(seed)), {}

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        obs, reward, done, extras = self.task.step(as_action_tensor(action, 1))
        timeout = bool(extras["time_outs"][0])
        return self._numpy(obs), float(reward[0]), bool(done[0]) and not timeout, timeout, {}


def async_vector_baseline(task: str) -> Callable[[dict[str, Any], int, int, int], tuple[str, float]]:
    """`baseline=` for register_task: env-steps/s of gymnasium's AsyncVectorEnv with one env of `task` per worker
    process, one worker per CPU (at most `num_envs`; more processes than cores only add contention), under uniform
    random actions (after 10 warm-up steps)."""

    def baseline(cfg: dict[str, Any], num_envs: int, steps: int, seed: int) -> tuple[str, float]:
        workers = max(1, min(num_envs, os.cpu_count() or 1))
        env_fns = [partial(SingleTaskEnv, task, cfg, seed + i) for i in range(workers)]
        envs = gym.vector.AsyncVectorEnv(env_fns)
        try:
            envs.reset(seed=seed)
            envs.action_space.seed(seed)
            for _ in range(10):
                envs.step(envs.action_space.sample())
            start = time.perf_counter()
            for _ in range(steps):
                envs.step(envs.action_space.sample())
            rate = workers * steps / (time.perf_counter() - start)
        finally:
            envs.close()
        return f"gymnasium AsyncVectorEnv, {workers} processes x 1 env", rate

    return baseline
