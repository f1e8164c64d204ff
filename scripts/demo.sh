#!/usr/bin/env bash
# Set up, then run the main job on the embedded corpus (Bach chorales from music21).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/tunesmith prepare "$@"
