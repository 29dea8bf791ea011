#!/usr/bin/env bash
# Build the benchmark environment .bench-venv (separate from the main .venv): openmtcnn and its peers.
#   bash benchmarks/setup.sh            # then: .bench-venv/bin/openmtcnn benchmark
# Installs run under `nice` (they are I/O and CPU heavy). A peer whose install fails is reported, not fatal:
# the benchmark lists it as "not installed".
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${BENCH_VENV:-.bench-venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x "$VENV/bin/python" ] || nice -n 10 "$PY" -m venv "$VENV" || exit 1
PIP="nice -n 10 $VENV/bin/python -m pip install --disable-pip-version-check"
$PIP -r benchmarks/requirements.txt || exit 1
# peers that pin old releases of their dependencies: installed without them (requirements.txt has what they use)
$PIP --no-deps facenet-pytorch==2.6.0 || echo "setup.sh: facenet-pytorch did not install" >&2
$PIP --no-deps mtcnn==1.0.0 || echo "setup.sh: mtcnn did not install" >&2
# dlib: the prebuilt wheel (building dlib from source needs cmake and minutes of compiling)
$PIP dlib-bin || echo "setup.sh: dlib-bin did not install (the benchmark lists dlib as not installed)" >&2
# openmtcnn itself, from this checkout, without re-resolving its dependencies
$PIP --no-deps -e . || exit 1
echo "setup.sh: $VENV ready"
