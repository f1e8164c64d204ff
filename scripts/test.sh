#!/usr/bin/env bash
# Set up, then lint, check formatting and types, and run every test (the slow end-to-end ones included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/system-deps.sh  # FluidSynth, a SoundFont and Chromium for the report's tests
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
