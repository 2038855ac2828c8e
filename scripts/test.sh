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
