#!/usr/bin/env bash
# Issue 22, round 2: the default's distilled recipe (the original weights as a teacher; configs/experiments/
# {p,r,o}net-distill.yaml) on round 1's depthwise nets with batch norm, each stage fine-tuned from round 1's net on
# round 1's samples (configs/experiments/variants-distill/*.yaml), then measured as the sweeps were: the fixed spread
# of 500 WIDER val images at the authors' settings and the landmark test list, with P-Net's first pyramid level at
# x 1 / 0.75 / 0.6 (the set's manifest carries it), its depthwise P-Net (and R-Net) before the default's later stages,
# and the default itself at 0.75 as a control. Resumable: rerun it and every step continues where it stopped.
# Run from the checkout, after variants-short.sh (round 1's mtcnn-dw-bn) and `openmtcnn convert-weights --out
# weights/original` (the teacher):
#   nohup bash experiments/variants-distill.sh > runs/study22/log-distill 2>&1 &
# Writes runs/study22/round2/.
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/lib.sh
C=configs/experiments/variants-distill
D=$R/round2
V=mtcnn-dw-bn
mkdir -p $D
# P-Net: round 1's samples
link_samples pnet $R/mtcnn-p $D/$V-p
$O train pnet --config $C/pnet-dw-bn.yaml --data data --runs $D/$V-p
# R-Net: v10's P-Net (the samples' miner) and runs31's samples
[ -f $D/$V-r/pnet/pnet.onnx ] || { mkdir -p $D/$V-r && cp -r runs31/pnet $D/$V-r/; }
cmp $D/$V-r/pnet/pnet.onnx runs31/pnet/pnet.onnx
link_samples rnet runs31 $D/$V-r
$O train rnet --config $C/rnet-dw-bn.yaml --data data --runs $D/$V-r
# O-Net: v10's P-Net and R-Net and runs30's samples
mkdir -p $D/$V-o
[ -d $D/$V-o/pnet ] || cp -r runs30/pnet runs30/rnet $D/$V-o/
link_samples onet runs30 $D/$V-o
$O train onet --config $C/onet-dw-bn.yaml --data data --runs $D/$V-o
# the weight set
mkdir -p $D/$V
for s in pnet rnet onet; do [ -e $D/$V/$s ] || ln -s "../$V-${s:0:1}/$s" $D/$V/$s; done
[ -f $D/$V/weights/manifest.json ] || $O train export --runs $D/$V --out $D/$V/weights

for K in 0.75 0.6; do scaled_set $D/$V/weights $D/$V-scale$K/weights $K; done
# round 2's depthwise P-Net (and R-Net) before the default's later stages (v13's R-Net and O-Net: runs31's and
# runs30's stage folders), a comparison set written by `train export --mixed`, at P-Net's first level 0.75
M=$D/mix
mix() {  # mix NAME PNET_DIR RNET_DIR ONET_DIR
  mixed_set $M/$1 $2 $3 $4
  scaled_set $M/$1/weights $M/$1/weights-scale0.75 0.75
}
mix dwPR-v13O $D/$V-p/pnet $D/$V-r/rnet $V13O
mix dwP-v13RO $D/$V-p/pnet $V13R $V13O
scaled_set openmtcnn/weights/default $D/v13-scale0.75/weights 0.75   # the control: the default's own nets at 0.75
evaluate_spread $D/eval round2-$V $D/$V/weights
for K in 0.75 0.6; do evaluate_spread $D/eval round2-$V-scale$K $D/$V-scale$K/weights; done
evaluate_spread $D/eval round2-dwPR-v13O-scale0.75 $M/dwPR-v13O/weights-scale0.75
evaluate_spread $D/eval round2-dwP-v13RO-scale0.75 $M/dwP-v13RO/weights-scale0.75
evaluate_spread $D/eval ours-v13-scale0.75 $D/v13-scale0.75/weights
# the shipped set (round 2 at 0.6) on all of WIDER val at both settings and the landmark list: docs/variants.md,
# "The shipped set", gives those commands and the export into openmtcnn/weights/mtcnn-dw
echo "round 2 done"
