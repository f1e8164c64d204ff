#!/usr/bin/env bash
# Create .venv and install tunesmith with its dev tools. Safe to run again: it does nothing when
# pyproject.toml and this script are unchanged since the last successful run.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
stamp=.venv/.tunesmith-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # Torch first and pinned (a CPU wheel on CPU machines): left to pip, an unpinned torch pulls
  # several GB of CUDA packages. A torch already in .venv (say a CUDA build) is kept.
  .venv/bin/python -c "import torch" 2>/dev/null || "${pip[@]}" install "torch==${TORCH_VERSION:-2.13.0}"
  "${pip[@]}" install -e ".[dev]"
  echo "$want" > "$stamp"
fi
