#!/usr/bin/env bash
# Issue 21, item 6: R-Net's and O-Net's offsets are now decoded relative to the whole-pixel box each crop was cut from,
# which moves every face's box and points by up to 0.5 px. This reruns every evaluation behind the README's tables and
# docs/results.md (the original weights, the default v13, v10: the best recipe without a teacher) and the shipped
# mtcnn-dw's, with the labels they were measured under, into runs/remeasure/ (resumable: a finished run is kept, an
# interrupted WIDER pass goes on from its last image), then one 500-image spread of the default for the variant
# tables (measured before the change). `COPY=1` then puts the summaries over the committed ones.
# About 2 hours on the 2-core machine alone (authors' settings: about 26 / 16 / 30 minutes for original / v13 / v10).
# CANDIDATE=DIR (with CANDIDATE_NAME, CANDIDATE_LABEL) measures a candidate default first, beside the rest;
# CANDIDATE_ONLY=1 stops after it (about 25 minutes), to compare with the committed summaries of the rest
# (docs/results/summaries/) where runs/remeasure is not on the machine.
#   nohup bash experiments/pixel-conventions/remeasure.sh > runs/remeasure/log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../.."
. experiments/lib.sh   # O, EVERYDAY, WIDER_VAL
OUT=runs/remeasure
mkdir -p $OUT
LM=(--list data/landmarks/testImageList.txt --images data/landmarks)

V10=$OUT/weights-v10   # v10, the default of commit f123aaf
if [ ! -f $V10/manifest.json ]; then
  mkdir -p $V10.tmp
  for f in pnet.onnx rnet.onnx onet.onnx manifest.json MODEL_CARD.md; do
    git show f123aaf:openmtcnn/weights/default/$f > $V10.tmp/$f
  done
  mv $V10.tmp $V10
fi

wider() {  # wider NAME LABEL WEIGHTS [ARGS...]: WIDER val, all 3226 images -> OUT/NAME/widerface.json
  [ -f $OUT/$1/widerface.json ] || $O evaluate widerface "${WIDER_VAL[@]}" --weights "$3" --jobs 2 --label "$2" \
    --out $OUT/$1 --no-progress "${@:4}"
}
marks() {  # marks NAME LABEL WEIGHTS [ARGS...]: the landmark test list -> OUT/NAME/landmarks.json
  [ -f $OUT/$1/landmarks.json ] || $O evaluate landmarks "${LM[@]}" --weights "$3" --label "$2" \
    --out $OUT/$1 --no-progress "${@:4}"
}

if [ -n "${CANDIDATE:-}" ]; then  # CANDIDATE=DIR: a new default under test (issue 21), measured first
  A="${CANDIDATE_LABEL:-candidate}"; W=$CANDIDATE; C=candidates/${CANDIDATE_NAME:-candidate}  # not copied by COPY=1
  wider $C "$A" $W
  wider $C-everyday "$A, everyday settings" $W "${EVERYDAY[@]}"
  marks $C "$A" $W
  marks $C-first-look "$A, first look" $W --landmark-passes 0
  marks $C-reframe40 "$A, reframed 40 px" $W --reframe 40
  if [ "${CANDIDATE_ONLY:-0}" = 1 ]; then echo "remeasure: candidate done"; exit 0; fi
fi

A="v12 + distilled P-Net"; W=openmtcnn/weights/default   # v13, labelled as when first measured (report --rename)
marks ours-v13 "$A" $W
marks ours-v13-first-look "$A, first look" $W --landmark-passes 0
marks ours-v13-reframe40 "$A, reframed 40 px" $W --reframe 40
wider ours-v13-everyday "$A, everyday settings" $W "${EVERYDAY[@]}"
wider ours-v13 "$A" $W

A="original (authors' weights)"; W=weights/original
marks original "$A" $W --landmark-passes 0
marks original-2passes "$A, 2 landmark passes" $W
marks original-reframe40 "$A, reframed 40 px" $W --reframe 40
wider original-everyday "$A, everyday settings" $W "${EVERYDAY[@]}"
wider original "$A" $W

A="ours-v10 (default)"; W=$V10
marks ours-v10 "$A" $W
marks ours-v10-first-look "$A, first look" $W --landmark-passes 0
marks ours-v10-reframe40 "$A, reframed 40 px" $W --reframe 40
wider ours-v10-everyday "$A, everyday settings" $W "${EVERYDAY[@]}"
wider ours-v10 "$A" $W

W=openmtcnn/weights/mtcnn-dw
marks variants-shipped/mtcnn-dw mtcnn-dw $W
wider variants-shipped/mtcnn-dw-everyday "mtcnn-dw, everyday settings" $W "${EVERYDAY[@]}"
wider variants-shipped/mtcnn-dw mtcnn-dw $W

# the default on the variant tables' 500-image spread: how far the change moves those rows
wider spread/ours-v13 ours-v13 openmtcnn/weights/default --sample 500

if [ "${COPY:-0}" = 1 ]; then  # OUT/NAME/KIND.json -> docs/results/summaries/NAME.KIND.json (the spread stays here)
  S=docs/results/summaries
  for d in $OUT/*/ $OUT/variants-shipped/*/; do
    d=${d%/}; rel=${d#$OUT/}
    for kind in widerface landmarks; do
      if [ -f $d/$kind.json ]; then cp $d/$kind.json $S/$rel.$kind.json; fi
    done
  done
fi
echo "remeasure done"
