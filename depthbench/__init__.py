"""depthbench: RL benchmarks where robot policies see the world through a pluggable depth encoder."""

__version__ = "0.1.0"
