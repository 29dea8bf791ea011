#!/usr/bin/env bash
# Issue 21: configs/default's O-Net trained longer (configs/experiments/default-long/onet.yaml) behind the first
# configs/default run's P-Net and R-Net, on that run's O-Net samples (linked), then measured on the WIDER val spread
# beside it (the swap script's rows). Resumable: rerun it. About 1.5-2.3 h of training on 2 cores (37-55 s per epoch).
#   nohup bash experiments/default-long.sh > runs/default-long.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/lib.sh
S=runs/default; D=runs/default-long
mkdir -p $D
for s in pnet rnet; do [ -e $D/$s ] || ln -s "$(realpath $S/$s)" $D/$s; done
link_samples onet $S $D
$O train onet --config configs/experiments/default-long/onet.yaml --data data --runs $D
[ -f $D/weights/manifest.json ] || $O train export --runs $D --out $D/weights
[ -f $D/eval/spread/widerface.json ] || wider_spread $D/eval/spread default-long $D/weights
echo "default-long done"
