#!/usr/bin/env bash
# Issue 22, round 1: standard and MobileNet-style nets trained the same short way on the same samples
# (configs/experiments/variants-short/*.yaml; each file's header says what it shares), assembled into weight sets and
# measured side by side. Resumable: rerun it and every step continues where it stopped (training from its last
# checkpoint, evaluations from their last finished image). Run from the checkout:
#   nohup bash experiments/variants-short.sh mtcnn mtcnn-dw > runs/study22/log 2>&1 &
#   AUTHORS=1 bash experiments/variants-short.sh mtcnn mtcnn-dw     # then WIDER val at the authors' settings too
#   nohup bash experiments/variants-short.sh mtcnn-dw-bn > runs/study22/log-bn 2>&1 &   # a later variant: mtcnn's P-Net samples
# Each variant named is trained and measured in turn (WIDER val at the everyday settings, the landmark test list).
# Needs: data/ staged (3315 WIDER train images, the landmark list, WIDER val), runs30 / runs31 (v11 / v12's
# samples; their configs' headers say how to remake them). Writes runs/study22/.
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/lib.sh
C=configs/experiments/variants-short
mkdir -p $R
suffix() { [ "$1" = mtcnn ] && echo "" || echo "-${1#mtcnn-}"; }   # mtcnn -> "", mtcnn-dw -> -dw
first=""
for V in "$@"; do
  S=$(suffix "$V")
  # P-Net: the first variant named makes the samples, the others link them (a later call links mtcnn's)
  if [ -n "$first" ]; then link_samples pnet "$R/$first-p" "$R/$V-p"
  elif [ "$V" != mtcnn ] && [ -d $R/mtcnn-p/pnet/samples ]; then link_samples pnet "$R/mtcnn-p" "$R/$V-p"; fi
  $O train pnet --config $C/pnet$S.yaml --data data --runs $R/$V-p
  first=${first:-$V}
  # R-Net: v10's P-Net and runs31's samples
  # (the stage folder of runs31: v10's P-Net, which the default set no longer holds since v13)
  [ -f $R/$V-r/pnet/pnet.onnx ] || { mkdir -p $R/$V-r && cp -r runs31/pnet $R/$V-r/; }
  cmp $R/$V-r/pnet/pnet.onnx runs31/pnet/pnet.onnx
  link_samples rnet runs31 $R/$V-r
  $O train rnet --config $C/rnet$S.yaml --data data --runs $R/$V-r
  # O-Net: v10's P-Net and R-Net and runs30's samples
  mkdir -p $R/$V-o
  [ -d $R/$V-o/pnet ] || cp -r runs30/pnet runs30/rnet $R/$V-o/
  link_samples onet runs30 $R/$V-o
  $O train onet --config $C/onet$S.yaml --data data --runs $R/$V-o
  # the weight set: this variant's three nets
  mkdir -p $R/$V
  for s in pnet rnet onet; do [ -e $R/$V/$s ] || ln -s "../$V-${s:0:1}/$s" $R/$V/$s; done
  [ -f $R/$V/weights/manifest.json ] || $O train export --runs $R/$V --out $R/$V/weights
  $O evaluate widerface "${WIDER_VAL[@]}" \
    --weights $R/$V/weights "${EVERYDAY[@]}" \
    --label "$V, round 1, everyday settings" --out $R/$V/eval/wider-everyday --no-progress
  $O evaluate landmarks --list data/landmarks/testImageList.txt --images data/landmarks --weights $R/$V/weights \
    --label "$V, round 1" --out $R/$V/eval/landmarks --no-progress
done
if [ -n "${AUTHORS:-}" ]; then  # the authors' settings, evaluate widerface's defaults: about 15 minutes a set
  for V in "$@"; do
    $O evaluate widerface "${WIDER_VAL[@]}" \
      --weights $R/$V/weights \
      --label "$V, round 1" --out $R/$V/eval/wider --no-progress
  done
fi
