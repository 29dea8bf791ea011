#!/usr/bin/env bash
# Issue 22, the sweeps: MobileNet's width multiplier (alpha 1 / 0.75 / 0.5 / 0.25), its resolution multiplier (R-Net
# input 24 / 18 / 14 px; P-Net's first pyramid level x 1 / 0.75 / 0.6) and depthwise-separable at alpha 2 (about the
# standard nets' multiply-adds), one stage swapped at a time (the issue allows it when the table says which nets
# changed). Each R-Net variant is trained as round 1's R-Nets (configs/experiments/variants-sweep/*.yaml) and put
# behind round 1's standard P-Net and O-Net (round1-mtcnn), so a row differs from round1-mtcnn in its R-Net only;
# P-Net's resolution multiplier is a cascade setting of round1-mtcnn's own nets (the set's manifest carries it).
# Every row, with round 1's sets and the default for scale, is measured on the same fixed spread of 500 WIDER val
# images at the authors' settings (`evaluate widerface --sample 500`) and on the landmark test list.
# Resumable: rerun it and every step continues where it stopped. Run from the checkout, after variants-short.sh:
#   nohup bash experiments/variants-sweep.sh > runs/study22/log-sweep 2>&1 &
# Then the table: the command in docs/variants.md (`sweep`). Writes runs/study22/sweep/.
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/lib.sh
C=configs/experiments/variants-sweep
S=$R/sweep
mkdir -p $S

evaluate() { evaluate_spread $S/eval "$@"; }   # evaluate LABEL WEIGHTS

swapped_set() {  # swapped_set NAME STAGE STAGE_DIR: round1-mtcnn's nets with STAGE's net taken from STAGE_DIR
  local dirs=() st
  for st in pnet rnet onet; do if [ $st = $2 ]; then dirs+=("$3"); else dirs+=("$R/mtcnn-${st:0:1}/$st"); fi; done
  mixed_set $S/$1 "${dirs[@]}"
}

# round 1's sets and the default, on the same spread
evaluate ours-v13 openmtcnn/weights/default
for V in mtcnn mtcnn-dw mtcnn-dw-bn; do evaluate round1-$V $R/$V/weights; done
# P-Net's resolution multiplier: the same nets, a smaller first pyramid level
for K in 0.75 0.6; do scaled_set $R/mtcnn/weights $S/pnet-scale$K/weights $K; evaluate pnet-scale$K $S/pnet-scale$K/weights; done
# R-Net variants: depthwise at alpha 1 is round 1's mtcnn-dw R-Net; the others are trained here
swapped_set rnet-dw rnet $R/mtcnn-dw-r/rnet
evaluate rnet-dw $S/rnet-dw/weights
# the R-Net variants in this order unless RNETS names others (e.g. RNETS="dw-a2 dw-r0.6": only those, in that order;
# RNETS="": none)
for V in ${RNETS-dw-a0.5 dw-a0.25 dw-a2 dw-r0.75 dw-a0.75 dw-r0.6}; do
  T=$S/train-$V
  [ -f $T/pnet/pnet.onnx ] || { mkdir -p $T && cp -r runs31/pnet $T/; }   # v10's P-Net, the samples' miner
  cmp $T/pnet/pnet.onnx runs31/pnet/pnet.onnx
  case $V in  # the same samples as round 1 unless the input size changes (then remade, same settings)
    *-r*) ;;
    *) mkdir -p $T/rnet; [ -e $T/rnet/samples ] || ln -s "$(realpath runs31/rnet/samples)" $T/rnet/samples ;;
  esac
  $O train rnet --config $C/rnet-$V.yaml --data data --runs $T
  swapped_set rnet-$V rnet $T/rnet
  evaluate rnet-$V $S/rnet-$V/weights
done
# O-Net's resolution multiplier: O-Nets at 36 and 29 px (rho 0.75, 0.6) behind round1-mtcnn's P-Net and R-Net, beside
# round 1's depthwise O-Net at 48 px (alpha 1, rho 1). Their samples are mined again at each size by the miners of
# round 1's O-Net samples (runs30: v10's P-Net and R-Net), same images and settings. ONETS as RNETS.
swapped_set onet-dw onet $R/mtcnn-dw-o/onet
evaluate onet-dw $S/onet-dw/weights
for V in ${ONETS-dw-r0.75 dw-r0.6}; do
  T=$S/train-onet-$V
  for st in pnet rnet; do [ -f $T/$st/$st.onnx ] || { mkdir -p $T && cp -r runs30/$st $T/; }; cmp $T/$st/$st.onnx runs30/$st/$st.onnx; done
  $O train onet --config $C/onet-$V.yaml --data data --runs $T
  swapped_set onet-$V onet $T/onet
  evaluate onet-$V $S/onet-$V/weights
done
echo "sweep done"
