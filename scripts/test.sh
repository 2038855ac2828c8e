#!/usr/bin/env bash
# The README's test command: set up .venv if needed, lint, then run the whole test suite.
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
ruff check .
ruff format --check .
python -m pytest "$@"
