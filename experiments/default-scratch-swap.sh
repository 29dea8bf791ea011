#!/usr/bin/env bash
# Issue 21: where the configs/default run from scratch (runs/default) loses AP against v13, the default it was
# meant to rebuild: its nets with one part swapped for v13's, on the fixed spread of 500 WIDER val images at the
# authors' settings (WIDER only), beside the from-scratch set itself. v13's own row on the same spread is
# docs/results/summaries/variants-round2/ours-v13.widerface.json (same cascade code). Resumable; about 4 minutes
# per set. Writes runs/default/swap/.
#   nohup bash experiments/default-scratch-swap.sh > runs/default/swap.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
. experiments/lib.sh
S=runs/default                                        # the from-scratch run's stage folders
D=$S/swap
mixed_set $D/scratchPR-v13O $S/pnet $S/rnet $V13O
mixed_set $D/v13PR-scratchO $V13P $V13R $S/onet
mixed_set $D/scratchP-v13RO $S/pnet $V13R $V13O
spread() {  # spread LABEL WEIGHTS
  wider_spread $D/eval/$1 "$1" "$2"
}
spread scratch $S/weights
spread scratchPR-v13O $D/scratchPR-v13O/weights
spread v13PR-scratchO $D/v13PR-scratchO/weights
spread scratchP-v13RO $D/scratchP-v13RO/weights
echo "swap done"
