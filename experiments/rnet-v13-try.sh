#!/usr/bin/env bash
# Issue 21: v13's R-Net fine-tuned three ways on the same samples (mined behind v13's P-Net, 3315 WIDER train images
# and the 10,000 landmark faces): its own recipe again (control), the teacher's face probability weighted 3
# (distill3), landmark faces not positives (nolmface); configs/experiments/rnet-v13-try/. Each R-Net goes into a set
# with v13's P-Net and O-Net (adopted), measured on the 500-image WIDER val spread at the everyday and the authors'
# settings, then each R-Net's pass rates at the everyday R-Net threshold (0.7) by IoU with the face. Resumable: rerun.
# About 20 min per R-Net on 2 cores. Writes runs/rnet-v13-try/.
#   nohup bash experiments/rnet-v13-try.sh > runs/rnet-v13-try.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/lib.sh
D=runs/rnet-v13-try; C=$D/control; TRIES=(control distill3 nolmface)
mkdir -p $C
[ -f $C/onet/summary.json ] || $O train adopt --weights openmtcnn/weights/default --stages pnet onet --runs $C
for v in "${TRIES[@]}"; do
  mkdir -p $D/$v
  if [ $v != control ]; then
    for s in pnet onet; do [ -e $D/$v/$s ] || ln -s "$(realpath $C/$s)" $D/$v/$s; done
    link_samples rnet $C $D/$v
  fi
  $O train rnet --config configs/experiments/rnet-v13-try/$v.yaml --data data --runs $D/$v
  [ -f $D/$v/weights/manifest.json ] || $O train export --runs $D/$v --mixed --out $D/$v/weights
  spreads $D/$v/eval "rnet-$v" $D/$v/weights
done
# the teacher-weighted R-Net in front of the O-Net without landmark faces as positives (experiments/default-onet-try.sh's
# runs/v13pr-nolmface), where that run is here
N=runs/v13pr-nolmface/onet; M=$D/combo-nolmO
if [ -f $N/onet.onnx ]; then
  mixed_set $M $C/pnet $D/distill3/rnet $N
  spreads $M/eval "rnet-distill3 + nolmface O-Net" $M/weights
fi
$PY experiments/analyses/rnet_pass_rates.py "${WIDER_VAL[@]}" --threshold 0.7 v13=openmtcnn/weights/default/rnet.onnx \
  original=weights/original/rnet.onnx $(for v in "${TRIES[@]}"; do echo $v=$D/$v/rnet/rnet.onnx; done)
for v in "${TRIES[@]}" combo-nolmO; do
  for e in spread-everyday spread; do
    [ -f $D/$v/eval/$e/widerface.json ] || continue
    print_ap $D/$v/eval/$e/widerface.json
  done
done
