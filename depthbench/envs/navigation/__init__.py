"""Navigation tasks on a CPU engine that follows Habitat's rules: `pointnav` and `embodied-nav`."""

from depthbench.envs.navigation import embodied, pointnav  # noqa: F401  (importing registers the tasks)
