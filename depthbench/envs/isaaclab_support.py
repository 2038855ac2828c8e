"""Isaac Lab 3 (kit-less, Newton physics) support shared by the tasks' Isaac Lab bindings.

Isaac Lab 3.0 pins Python 3.12, torch 2.11 and mujoco 3.12, so it lives in its own environment, `.venv-isaaclab`
(`bash scripts/isaaclab_venv.sh`); asking for the isaaclab engine anywhere else is one clear error.
"""

from __future__ import annotations

import importlib.util

from depthbench.errors import DepthbenchError

SETUP_COMMAND = "bash scripts/isaaclab_venv.sh"


def require_isaaclab() -> None:
    """Raise one clear line naming the set-up command when Isaac Lab is not importable here."""
    if importlib.util.find_spec("isaaclab") is None:
        raise DepthbenchError(
            "the isaaclab engine needs Isaac Lab 3, which lives in its own environment: run "
            f"`{SETUP_COMMAND}`, then run depthbench with .venv-isaaclab/bin/python -m depthbench ..."
        )
