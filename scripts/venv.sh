# Sourced by scripts/demo.sh and scripts/test.sh: creates .venv in the repo root if missing and installs the
# project (with dev extras) whenever pyproject.toml changed since the last install. Idempotent.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.depthbench-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  echo "$want" >"$stamp"
fi
# Offscreen OpenGL for the MuJoCo tasks' episode videos (depthbench sets MUJOCO_GL=egl): the EGL loader, Mesa's EGL
# and its software rasterizer (llvmpipe). Debian packages, installed only when one is missing.
gl_packages="libegl1 libegl-mesa0 libgl1-mesa-dri"
if command -v dpkg >/dev/null 2>&1 && ! dpkg -s $gl_packages >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $gl_packages >/dev/null
  else
    echo "note: $gl_packages not all installed; MuJoCo episode videos will be depth only (apt-get install $gl_packages)" >&2
  fi
fi
# Offline robot models for machines without a route to the menagerie download host (see README).
if [ -z "${MENAGERIE_ROOT:-}" ]; then
  candidate="$repo_root/../shared/menagerie"
  if [ -d "$candidate" ]; then
    export MENAGERIE_ROOT="$(cd "$candidate" && pwd)"
  fi
fi
export PATH="$repo_root/.venv/bin:$PATH"
