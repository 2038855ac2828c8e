#!/usr/bin/env bash
# Creates .venv-isaaclab (Python 3.12) with Isaac Lab 3 (kit-less, Newton physics), the MJCF->USD importer
# packages and depthbench, for the `--engine isaaclab` path and tests/isaaclab. Idempotent: re-running only
# reinstalls depthbench when pyproject.toml changed. Sourceable (exports nothing but MENAGERIE_ROOT) or runnable.
#
# Isaac Lab 3.0 pins torch 2.11 / mujoco 3.12 / Python 3.12, so it cannot share .venv (Python 3.11, torch 2.14,
# mujoco 4). depthbench goes in with --no-deps plus the few pure-Python packages it imports, all installed under a
# constraints file frozen from the Isaac Lab install so nothing Isaac Lab pinned is upgraded.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
venv=.venv-isaaclab
if [ ! -x "$venv/bin/python" ]; then
  # A pyenv shim named python3.12 exists even when 3.12 is not the active version, so check that it runs.
  py312=""
  if python3.12 -c pass 2>/dev/null; then
    py312="$(python3.12 -c 'import sys; print(sys.executable)')"
  elif command -v pyenv >/dev/null; then
    v="$(pyenv versions --bare | grep -E '^3\.12(\.|$)' | tail -1 || true)"
    [ -n "$v" ] && py312="$(PYENV_VERSION="$v" pyenv which python3.12)"
  fi
  if [ -z "$py312" ]; then
    echo "isaaclab_venv.sh: error: Python 3.12 not found (install it, e.g. 'pyenv install 3.12')" >&2
    exit 2
  fi
  "$py312" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
if [ ! -f "$venv/.isaaclab-installed" ]; then
  "${pip[@]}" --upgrade pip
  "${pip[@]}" isaaclab==3.0.0
  # `isaaclab[importers]` does not resolve with pip; these pins are the measured work-around (MjcfConverter).
  "${pip[@]}" mujoco-usd-converter==0.6.1 urdf-usd-converter==0.3.2
  "${pip[@]}" --no-deps isaacsim-asset-isolated==6.2.0.0 isaacsim-robot-schema==6.2.0.0 usd-optimize==1.1.0
  touch "$venv/.isaaclab-installed"
fi
stamp="$venv/.depthbench-installed"
want="$(sha256sum pyproject.toml scripts/isaaclab_venv.sh | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  constraints="$venv/isaaclab-constraints.txt"
  "$venv/bin/python" -m pip freeze --exclude-editable | grep -v '^depthbench' >"$constraints"
  # What depthbench imports beyond Isaac Lab's own dependencies (no mujoco 4, no torch 2.14).
  "${pip[@]}" -c "$constraints" pyyaml rich tqdm matplotlib pillow scipy huggingface-hub trimesh embreex scikit-fmm mujoco-menagerie \
    tensordict gymnasium jsonschema timm tensorboard "pytest>=8" "pytest-timeout>=2.3"
  "${pip[@]}" --no-deps -e .
  echo "$want" >"$stamp"
fi
if [ -z "${MENAGERIE_ROOT:-}" ]; then
  for candidate in "$repo_root/../shared/menagerie"; do
    if [ -d "$candidate" ]; then
      export MENAGERIE_ROOT="$(cd "$candidate" && pwd)"
      break
    fi
  done
fi
