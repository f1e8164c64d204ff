#!/usr/bin/env bash
# Set up, then run the main job: the end-to-end demo on the embedded corpus (Bach chorales from
# music21): train a Critic and a Composer, tune the Composer with the Critic's verdict, let a
# judge that neither was tuned against score both, write a report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/system-deps.sh audio  # FluidSynth and a SoundFont, so the report can play its pieces
exec .venv/bin/tunesmith demo "$@"
