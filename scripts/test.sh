#!/usr/bin/env bash
# The README's test command: set up .venv if needed, lint, build the docs strictly, then run the whole test suite.
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
ruff check .
ruff format --check .
# --strict fails on broken links and on pages missing from mkdocs.yml's nav (not -q: it hides those warnings)
site="$(mktemp -d)"
if ! NO_MKDOCS_2_WARNING=1 mkdocs build --strict --site-dir "$site" >"$site.log" 2>&1; then
  grep -v '^INFO' "$site.log" >&2
  echo "docs: mkdocs build --strict failed (fix the warnings above)" >&2
  exit 1
fi
echo "docs: mkdocs build --strict passed"
python -m pytest "$@"
# The Isaac Lab engine's tests, in their own Python 3.12 environment (created when missing; docs/isaaclab.md).
# Skip with DEPTHBENCH_SKIP_ISAACLAB=1 for a quick local run; CI runs them.
if [ "${DEPTHBENCH_SKIP_ISAACLAB:-0}" != 1 ]; then
  bash scripts/isaaclab_venv.sh
  DEPTHBENCH_MUJOCO_PYTHON="$PWD/.venv/bin/python" .venv-isaaclab/bin/python -m pytest tests/engine_isaaclab -q \
    -p no:cacheprovider
fi
