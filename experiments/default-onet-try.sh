#!/usr/bin/env bash
# Issue 21: an O-Net config that changes configs/default/onet.yaml's training (not its samples), trained behind the
# first configs/default run's P-Net and R-Net on its O-Net samples (linked, same fingerprint), then measured on the
# WIDER val spread at the authors' and the everyday settings (beside experiments/default-long.sh's and
# default-long-everyday.sh's rows). Resumable: rerun it. About 106 min of O-Net training on 2 cores.
#   nohup bash experiments/default-onet-try.sh CONFIG RUNS > RUNS.log 2>&1 &
# With FROM_SET=DIR (a weight set, e.g. openmtcnn/weights/default), P-Net and R-Net are adopted from that set
# instead (`train adopt`), and the O-Net samples are mined behind them (about 9 min more): for a checkout without
# runs/default, where rebuilding its P-Net and R-Net would take 75 min. With SAMPLES_FROM=RUNS, the P-Net, R-Net and
# O-Net samples linked are that runs folder's (e.g. an earlier FROM_SET try's) instead of runs/default's.
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/lib.sh
CFG=$1; D=$2; S=${SAMPLES_FROM:-runs/default}
mkdir -p $D
if [ -n "${FROM_SET:-}" ]; then
  [ -f $D/rnet/summary.json ] || $O train adopt --weights "$FROM_SET" --stages pnet rnet --runs $D
else
  for s in pnet rnet; do [ -e $D/$s ] || ln -s "$(realpath $S/$s)" $D/$s; done
  link_samples onet $S $D
fi
$O train onet --config $CFG --data data --runs $D
[ -f $D/weights/manifest.json ] || $O train export --runs $D --out $D/weights
spreads $D/eval "$(basename $D)" $D/weights
echo "$D done"
