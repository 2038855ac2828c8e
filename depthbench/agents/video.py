"""Episode videos: `depthbench eval --video N` records N of the evaluated episodes into one MP4.

As habitat-baselines' `video_option` and Isaac Lab's `--video` do, every frame shows what the policy got and what
happened: the depth image clean and as the policy sees it (after the evaluation noise model), side by side, beside
the task's own view (`render_view`: a top-down map with path and goal for navigation, a fixed third-person MuJoCo
camera for grasp and ladder), with the episode's return so far; each episode ends on a one-second card with its
metrics (success, SPL, ...). A task without a view, or a machine without offscreen OpenGL, gets frames labelled
"depth only" and the reason, in the frame and in the metrics JSON.

`EpisodeRecorder` wraps the evaluation env (a DepthFeatureWrapper) and passes observations, actions and results
through untouched, so metrics are the same with and without a video. The episodes shown are the first N of
"episode k of env i" in the order (k, i), among those the evaluation counts (its per-env quota): the first episode
of every env, then the second ones, and so on. Parallel envs run their episodes at the same time, so each episode is
encoded to its own segment while it runs (imageio-ffmpeg: ffmpeg's libx264, fed raw RGB frames) and the segments
are joined without re-encoding (ffmpeg's concat demuxer) into the MP4, written under a temporary name and then
renamed into place.

Frame t of an episode is the observation the policy acts on at step t. Tasks reset a finished env inside `step`
(the rsl-rl convention), so the state after an episode's last action is never observed; the end card repeats the
episode's last frame.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from depthbench.agents.evaluation import episode_quota
from depthbench.envs.mujoco_engine import OffscreenUnavailable, gl_backend
from depthbench.errors import DepthbenchError

PANEL_PX = 256  # each of the three panels: clean depth, policy depth, task view
HEADER_PX = 32  # two text lines: run, then episode / step / return
FOOTER_PX = 48  # three text lines: the finished episode's metrics on its end card
FRAME_SIZE = (3 * PANEL_PX, HEADER_PX + PANEL_PX + FOOTER_PX)  # (width, height), multiples of 16 for H.264
END_CARD_S = 1.0
DEFAULT_FPS = 10.0  # tasks without a control period (pointnav's discrete actions); habitat-baselines uses 10 too
MAX_FPS = 50.0
_TURBO = (matplotlib.colormaps["turbo"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)


def video_fps(task: Any) -> float:
    """Real time for tasks with a control period `step_dt` (s), capped at MAX_FPS; DEFAULT_FPS otherwise."""
    step_dt = getattr(task, "step_dt", None)
    return min(MAX_FPS, 1.0 / float(step_dt)) if step_dt else DEFAULT_FPS


def depth_panel(depth_m: np.ndarray | None, vmax_m: float, title: str) -> Image.Image:
    """(C, H, W) metric depth as a turbo-coloured panel (0 m blue .. vmax_m red; no return black), the C cameras
    tiled in a grid."""
    panel = Image.new("RGB", (PANEL_PX, PANEL_PX), (25, 25, 25))
    if depth_m is not None and depth_m.size:
        channels, height, width = depth_m.shape
        cols = math.ceil(math.sqrt(channels))
        rows = math.ceil(channels / cols)
        scale = min(PANEL_PX / (cols * width), PANEL_PX / (rows * height))
        tile = max(1, int(width * scale)), max(1, int(height * scale))
        x0 = (PANEL_PX - cols * tile[0]) // 2
        y0 = (PANEL_PX - rows * tile[1]) // 2
        for c in range(channels):
            index = np.clip(depth_m[c] / vmax_m * 255.0, 0, 255).astype(np.uint8)
            rgb = np.where((depth_m[c] > 0)[..., None], _TURBO[index], 0).astype(np.uint8)
            image = Image.fromarray(rgb).resize(tile, Image.NEAREST)
            panel.paste(image, (x0 + (c % cols) * tile[0], y0 + (c // cols) * tile[1]))
    _label(panel, title)
    return panel


def text_panel(lines: list[str]) -> Image.Image:
    panel = Image.new("RGB", (PANEL_PX, PANEL_PX), (90, 60, 60))
    draw = ImageDraw.Draw(panel)
    for row, line in enumerate(lines):
        draw.text((8, 8 + 16 * row), line, fill=(255, 255, 255), font=_font())
    return panel


@functools.cache
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=12)  # Pillow's bundled font: no system fonts needed


def _label(panel: Image.Image, title: str) -> None:
    draw = ImageDraw.Draw(panel)
    box = draw.textbbox((4, 2), title, font=_font())
    draw.rectangle([box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1], fill=(0, 0, 0))
    draw.text((4, 2), title, fill=(255, 255, 255), font=_font())


def wrap(text: str, width_px: int, max_lines: int) -> list[str]:
    """Greedy word wrap at the font's measured widths; the last line ends in '...' when text is left over."""
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines, current = [], ""
    for word in text.split(" "):
        candidate = f"{current} {word}".strip()
        if draw.textlength(candidate, font=_font()) <= width_px or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, len(lines[-1]) - 3)] + "..."
    return lines


def compose(panels: list[Image.Image], header: list[str], footer: list[str], footer_fill: tuple) -> np.ndarray:
    """One (H, W, 3) uint8 frame: header lines, the three panels side by side, footer lines."""
    frame = Image.new("RGB", FRAME_SIZE, (15, 15, 15))
    for k, panel in enumerate(panels):
        frame.paste(panel, (k * PANEL_PX, HEADER_PX))
    draw = ImageDraw.Draw(frame)
    for row, line in enumerate(header[:2]):
        draw.text((6, 2 + 15 * row), line, fill=(235, 235, 235), font=_font())
    for row, line in enumerate(footer[:3]):
        draw.text((6, HEADER_PX + PANEL_PX + 2 + 15 * row), line, fill=footer_fill, font=_font())
    return np.asarray(frame)


def result_text(record: dict[str, Any]) -> str:
    """The end card's text: SUCCESS / FAILURE, then every metric of the episode record."""
    parts = ["SUCCESS" if float(record.get("success", 0.0)) >= 0.5 else "FAILURE"]
    for key, value in record.items():
        if key in ("env_id", "success"):
            continue
        if isinstance(value, float):
            parts.append(f"{key} {value:.3g}")
        elif value != "":
            parts.append(f"{key} {value}")
    return "  ".join(parts)


class _Segment:
    """One episode's frames, piped to its own ffmpeg process as they come."""

    def __init__(self, path: Path, fps: float) -> None:
        import imageio_ffmpeg

        self.path = path
        self.writer = imageio_ffmpeg.write_frames(
            str(path),
            FRAME_SIZE,
            fps=fps,
            codec="libx264",
            quality=7,
            ffmpeg_log_level="error",
            output_params=["-preset", "veryfast"],  # encoding shares the cores with the evaluation
        )
        self.writer.send(None)  # start ffmpeg
        self.frames = 0
        self.steps = 0
        self.episode_return = 0.0
        self.vmax_m: float | None = None
        self.last_panels: list[Image.Image] | None = None
        self.header: list[str] = []
        self.record: dict[str, Any] | None = None

    def write(self, frame: np.ndarray) -> None:
        self.writer.send(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class EpisodeRecorder(VecEnv):
    """VecEnv wrapper that records `video_episodes` of an evaluation of `episodes` episodes (see module docstring).

    Use: wrap the DepthFeatureWrapper, evaluate through the recorder, then `finish()` for the MP4 and its frame
    index (the metrics JSON's "video"); `close()` always, to remove the segments and stop any ffmpeg still running.
    """

    def __init__(
        self,
        env: Any,
        *,
        episodes: int,
        video_episodes: int,
        path: str | Path,
        title: str,
        policy_input: str,
        fps: float | None = None,
    ) -> None:
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise DepthbenchError(
                "episode videos need imageio-ffmpeg: pip install 'depthbench[video]' (or pip install imageio-ffmpeg)"
            ) from None
        if not 1 <= video_episodes <= episodes:
            raise DepthbenchError(f"--video {video_episodes} must be between 1 and the {episodes} evaluated episodes")
        self.env = env
        self.task = env.env
        self.num_envs = env.num_envs
        self.num_actions = env.num_actions
        self.max_episode_length = env.max_episode_length
        self.device = env.device
        self.cfg = env.cfg
        env.keep_depth = True
        self.path = Path(path)
        self.title = title
        self.policy_input = policy_input
        self.fps = float(fps or video_fps(self.task))
        self.end_card_frames = max(1, round(END_CARD_S * self.fps))
        quota = episode_quota(episodes, self.num_envs)
        chosen = sorted((k, i) for i in range(self.num_envs) for k in range(quota[i]))[:video_episodes]
        self.position = {(i, k): j for j, (k, i) in enumerate(chosen)}  # (env, its k-th episode) -> place in video
        self.finished_count = [0] * self.num_envs
        self.segments: dict[int, _Segment] = {}
        self.done: list[tuple[int, _Segment]] = []
        self.view_error = None if hasattr(self.task, "render_view") else f"{type(self.task).__name__} has no view"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self._started = False

    # --- VecEnv, passed through ------------------------------------------------------------------------------
    @property
    def episode_length_buf(self) -> torch.Tensor:
        return self.env.episode_length_buf

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:
        self.env.episode_length_buf = value

    def get_observations(self) -> TensorDict:
        obs = self.env.get_observations()
        if not self._started:
            self._started = True
            self._capture()
        return obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        obs, rewards, dones, extras = self.env.step(actions)
        for i, segment in self._recording():
            segment.episode_return += float(rewards[i])
            segment.steps += 1
        for episode in extras.get("finished_episodes", []):
            i = int(episode["env_id"])
            current = self._current(i)
            if current is not None:
                self._end_card(current, episode)
            self.finished_count[i] += 1
        self._capture()
        return obs, rewards, dones, extras

    # --- recording -------------------------------------------------------------------------------------------
    def _current(self, env_id: int) -> tuple[int, _Segment] | None:
        j = self.position.get((env_id, self.finished_count[env_id]))
        return None if j is None or j not in self.segments else (j, self.segments[j])

    def _recording(self) -> list[tuple[int, _Segment]]:
        out = []
        for i in range(self.num_envs):
            current = self._current(i)
            if current is not None:
                out.append((i, current[1]))
        return out

    def _capture(self) -> None:
        """A frame of every env whose current episode is in the video (its segment starts on the first frame)."""
        for i in range(self.num_envs):
            k = self.finished_count[i]
            j = self.position.get((i, k))
            if j is None:
                continue
            segment = self.segments.get(j)
            if segment is None:
                segment = self.segments[j] = _Segment(self.tmp_dir / f"episode_{j:04d}.mp4", self.fps)
            clean, noisy = self._depth(i)
            if segment.vmax_m is None:  # one colour scale per episode, shared by the clean and the policy image
                positive = clean[clean > 0] if clean is not None else np.zeros(0)
                segment.vmax_m = float(np.percentile(positive, 99)) if positive.size else 1.0
            vmax = segment.vmax_m
            policy_title = f"policy input: {self.policy_input}" if noisy is not None else "policy input: no depth"
            panels = [
                depth_panel(clean, vmax, f"clean depth, 0-{vmax:.1f} m"),
                depth_panel(noisy, vmax, policy_title),
                self._view(i),
            ]
            segment.header = [
                self.title,
                f"episode {j + 1}/{len(self.position)} (env {i}, its #{k + 1})   step {segment.steps}   "
                f"return {segment.episode_return:.2f}",
            ]
            segment.last_panels = panels
            segment.write(compose(panels, segment.header, [], (255, 255, 255)))

    def _depth(self, env_id: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        pair = self.env.last_depth
        if pair is None:
            return None, None
        clean, noisy = pair
        as_numpy = lambda x: None if x is None else x[env_id].detach().float().cpu().numpy()  # noqa: E731
        return as_numpy(clean), as_numpy(noisy)

    def _view(self, env_id: int) -> Image.Image:
        if self.view_error is None:
            try:
                image = Image.fromarray(self.task.render_view(env_id, PANEL_PX, PANEL_PX))
                _label(image, self.task.view_name)
                return image
            except OffscreenUnavailable as exc:
                self.view_error = str(exc)
                print(f"depthbench: warning: video frames are depth only: {exc}", file=sys.stderr)
        return text_panel(["DEPTH ONLY: no task view", *wrap(self.view_error, PANEL_PX - 16, 13)])

    def _end_card(self, current: tuple[int, _Segment], record: dict[str, Any]) -> None:
        j, segment = current
        plain = {k: v.item() if isinstance(v, torch.Tensor) else v for k, v in record.items()}
        segment.record = plain
        success = float(plain.get("success", 0.0)) >= 0.5
        footer = wrap(result_text(plain) + f"  return {segment.episode_return:.2f}", FRAME_SIZE[0] - 12, 3)
        frame = compose(segment.last_panels, segment.header, footer, (90, 230, 90) if success else (255, 110, 90))
        for _ in range(self.end_card_frames):
            segment.write(frame)
        segment.close()
        self.done.append((j, segment))
        del self.segments[j]

    def finish(self) -> dict[str, Any]:
        """Join the recorded episodes into the MP4 (atomically) and return its description for the metrics JSON."""
        if self.segments or len(self.done) != len(self.position):
            raise DepthbenchError(
                f"video: {len(self.done)} of {len(self.position)} episodes finished recording; "
                "the evaluation ended early"
            )
        import imageio_ffmpeg

        ordered = [segment for _, segment in sorted(self.done, key=lambda item: item[0])]
        listing = self.tmp_dir / "segments.txt"
        listing.write_text("".join(f"file '{s.path.name}'\n" for s in ordered))
        joined = self.tmp_dir / "joined.mp4"
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "concat", "-safe", "0"]
        command += ["-i", str(listing), "-c", "copy", "-movflags", "+faststart", str(joined)]
        run = subprocess.run(command, capture_output=True, text=True)
        if run.returncode != 0:
            raise DepthbenchError(f"video: ffmpeg could not join the episode segments: {run.stderr.strip()[:300]}")
        os.replace(joined, self.path)
        index, first = [], 0
        for j, segment in enumerate(ordered):
            (i, k) = next(key for key, value in self.position.items() if value == j)
            index.append(
                {
                    "env_id": i,
                    "env_episode": k,
                    "first_frame": first,
                    "frames": segment.frames,
                    "steps": segment.steps,
                    "success": float(segment.record.get("success", 0.0)),
                    "record": segment.record,
                }
            )
            first += segment.frames
        view = (
            getattr(self.task, "view_name", "")
            if self.view_error is None
            else f"depth only (no task view: {self.view_error})"
        )
        return {
            "path": str(self.path),
            "fps": self.fps,
            "width": FRAME_SIZE[0],
            "height": FRAME_SIZE[1],
            "frames": first,
            "end_card_frames": self.end_card_frames,
            "view": view,
            "gl_backend": gl_backend(),
            "episodes": index,
        }

    def close(self) -> None:
        """Stop any ffmpeg still running and remove the temporary segments (the MP4 itself stays)."""
        for segment in [*self.segments.values(), *(s for _, s in self.done)]:
            segment.close()
        self.env.keep_depth = False
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
