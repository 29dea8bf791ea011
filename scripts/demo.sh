#!/usr/bin/env bash
# Set up a virtual environment (if missing) and detect the faces of the bundled sample photo:
# prints one JSON line per image and writes the drawn image to out/sample.jpg.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -e .
exec "$VENV/bin/openmtcnn" detect openmtcnn/assets/sample.jpg --draw out "$@"
