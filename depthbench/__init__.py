"""depthbench: RL benchmarks where robot policies see the world through a pluggable depth encoder."""

import os
import sys

__version__ = "0.1.0"

# Offscreen MuJoCo rendering (episode videos) on headless Linux: mujoco picks its OpenGL backend from MUJOCO_GL when
# it is first imported, and its default (GLFW) needs a display. EGL needs none (a GPU driver or Mesa's software
# rasterizer). A MUJOCO_GL set by the user wins.
if sys.platform.startswith("linux"):
    os.environ.setdefault("MUJOCO_GL", "egl")
