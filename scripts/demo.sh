#!/usr/bin/env bash
# The README's main command: set up .venv if needed, then run depthbench's main job.
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
python -m depthbench demo "$@"
