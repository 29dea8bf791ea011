#!/usr/bin/env bash
# Set up a virtual environment (if missing) and run the default test suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# the CPU build of torch first: a plain `torch` requirement would pull a multi-GB CUDA build. Here the
# package mirror serves the pinned CPU build; elsewhere set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  "$VENV/bin/pip" install -q torch --index-url "$TORCH_INDEX_URL"
else
  "$VENV/bin/pip" install -q torch==2.13.0
fi
"$VENV/bin/pip" install -q -e '.[train,test,serve,batch]'
# test-only: the original MTCNN weight files for the parity test (it pins an old torch, hence --no-deps)
"$VENV/bin/pip" install -q --no-deps facenet-pytorch==2.6.0
exec "$VENV/bin/python" -m pytest -q "$@"
