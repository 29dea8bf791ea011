#!/usr/bin/env bash
# Issue 21: why configs/default's 150-epoch set (runs/default-long, experiments/default-long.sh) trails v13 at the
# everyday settings on all of WIDER val: on the fixed 500-image spread at those settings (min face 20, 0.709,
# thresholds 0.6 / 0.7 / O), with O-Net's threshold O at 0.7 and at 0.5, and with P-Net + R-Net swapped between the
# two sets. Resumable; about 3 minutes per run on 2 cores. Writes runs/default-long/everyday/.
#   bash experiments/default-long-everyday.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/lib.sh
D=runs/default-long/everyday
mixed_set runs/default-long/swap/v13PR-longO $V13P $V13R runs/default-long/onet
everyday() {  # everyday NAME WEIGHTS ONET_THRESHOLD
  wider_spread $D/$1 "$1" "$2" "${EVERYDAY[@]}" \
    --thresholds 0.6 0.7 "$3" --jobs 2
}
for t in 0.7 0.5; do
  everyday v13-o$t openmtcnn/weights/default $t
  everyday long-o$t runs/default-long/weights $t
done
everyday v13PR-longO-o0.7 runs/default-long/swap/v13PR-longO/weights 0.7
everyday scratchPR-v13O-o0.7 runs/default/swap/scratchPR-v13O/weights 0.7  # experiments/default-scratch-swap.sh
for f in $D/*/widerface.json; do
  print_ap "$f"
done
