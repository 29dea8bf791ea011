#!/usr/bin/env bash
# Issue 21: where the gap to the original weights grows between the authors' WIDER settings and the everyday ones.
# The fixed 500-image WIDER val spread, one setting changed at a time from the authors' (min face 10, scale 0.79,
# thresholds 0.5 / 0.5 / 0.3) to the everyday (20, 0.709, 0.6 / 0.7 / 0.7), for each NAME=WEIGHTS given
# (default: v13, the original weights); then each set's operating points on the O-Net-threshold-0.3 run
# (experiments/analyses/operating_point.py: boxes per image, recall and precision when O-Net's threshold is raised).
# Resumable; 1-2 minutes per run on 2 cores. Writes runs/everyday-steps/NAME-STEP/.
#   bash experiments/everyday-steps.sh [NAME=WEIGHTS ...]
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/lib.sh
D=runs/everyday-steps
SETS=("$@"); [ ${#SETS[@]} -gt 0 ] || SETS=(v13=openmtcnn/weights/default original=weights/original)
STEPS=(  # STEP: evaluate widerface options (the authors' settings are its defaults)
  "1-authors:"
  "2-scale0.709:--scale-factor 0.709"
  "3-minface20:--scale-factor 0.709 --min-face-size 20"
  "4-PR0.6-0.7:--scale-factor 0.709 --min-face-size 20 --thresholds 0.6 0.7 0.3"
  "5-everyday:${EVERYDAY[*]}"
)
for s in "${SETS[@]}"; do
  name=${s%%=*}; w=${s#*=}
  for step in "${STEPS[@]}"; do
    st=${step%%:*}; read -r -a opts <<< "${step#*:}"
    wider_spread $D/$name-$st "$name-$st" "$w" --jobs 2 "${opts[@]}"
    print_ap $D/$name-$st/widerface.json "$name-$st"
  done
done
$PY experiments/analyses/operating_point.py --gt $WIDER_GT \
  $(for s in "${SETS[@]}"; do echo $D/${s%%=*}-4-PR0.6-0.7/pred; done)
