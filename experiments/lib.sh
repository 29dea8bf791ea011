# Shell helpers shared by the issue 21 and 22 experiment scripts, sourced from the checkout's root. The commands they
# run (OPENMTCNN, PYTHON: the checkout's venv unless set), issue 22's runs folder R, the WIDER val spread's size N,
# and the stage folders of v13, the default set (as openmtcnn/weights/default/training.json names their runs).
O=${OPENMTCNN:-.venv/bin/openmtcnn}
PY=${PYTHON:-.venv/bin/python}
R=runs/study22
N=${SAMPLE:-500}
V13P=runs32/pnet; V13R=runs31/rnet; V13O=runs30/onet
# the everyday settings (DetectConfig's defaults), as `evaluate widerface` options; its own defaults are the authors'
# WIDER settings. A later --thresholds overrides these (argparse keeps the last).
EVERYDAY=(--min-face-size 20 --scale-factor 0.709 --thresholds 0.6 0.7 0.7)
WIDER_GT=data/widerface/eval_tools/ground_truth
WIDER_VAL=(--images data/widerface/WIDER_val/images --gt $WIDER_GT)   # all of WIDER val, as staged into data/ (`evaluate widerface` options)

print_ap() {  # print_ap SUMMARY [NAME]: a widerface.json's AP easy / medium / hard after NAME (default: its label)
  $PY -c "import json, sys; d = json.load(open(sys.argv[1])); print(sys.argv[2] or d['label'], *(f'{v:.4f}' for v in d['ap'].values()))" \
    "$1" "${2:-}"
}

link_samples() {  # link_samples STAGE RUNS_FROM RUNS_TO: the same samples, not remade (same fingerprint)
  mkdir -p "$3/$1"
  [ -e "$3/$1/samples" ] || ln -s "$(realpath "$2/$1/samples")" "$3/$1/samples"
}

mixed_set() {  # mixed_set DIR PNET_DIR RNET_DIR ONET_DIR: a comparison set of these stage folders (linked into DIR),
  # written by `train export --mixed` into DIR/weights (its manifest names each stage's variant)
  mkdir -p "$1"
  [ -e "$1/pnet" ] || ln -s "$(realpath "$2")" "$1/pnet"
  [ -e "$1/rnet" ] || ln -s "$(realpath "$3")" "$1/rnet"
  [ -e "$1/onet" ] || ln -s "$(realpath "$4")" "$1/onet"
  [ -f "$1/weights/manifest.json" ] || $O train export --runs "$1" --mixed --out "$1/weights"
}

scaled_set() {  # scaled_set FROM_SET TO_SET SCALE: FROM_SET's nets with P-Net's first pyramid level x SCALE, the choice
  # in TO_SET's manifest (Detector(weights=DIR) uses it), training record and model card alike
  # (FROM_SET needs its training.json: `openmtcnn train card --weights FROM_SET --from-card` for an older set)
  $O train export --weights "$1" --out "$2" --pnet-scale "$3"
}

wider_spread() {  # wider_spread OUT LABEL WEIGHTS [ARGS...]: the fixed spread of N WIDER val images, at the authors'
  # settings unless ARGS (further `evaluate widerface` options) say otherwise, into OUT (an interrupted pass goes on
  # from its last image; a finished one, with OUT/widerface.json, is not run again)
  [ -f "$1/widerface.json" ] && return
  $O evaluate widerface "${WIDER_VAL[@]}" \
    --weights "$3" --sample "$N" --label "$2" --out "$1" --no-progress "${@:4}"
}

spreads() {  # spreads DIR LABEL WEIGHTS: the spread at the authors' settings into DIR/spread and at the everyday ones
  # into DIR/spread-everyday (label "LABEL, everyday")
  wider_spread "$1/spread" "$2" "$3" --jobs 2
  wider_spread "$1/spread-everyday" "$2, everyday" "$3" "${EVERYDAY[@]}" --jobs 2
}

evaluate_spread() {  # evaluate_spread OUT LABEL WEIGHTS: the fixed spread of N WIDER val images at the authors'
  # settings, then the landmark test list, into OUT/LABEL/{wider,landmarks}
  # (a set with both summaries written is done; an interrupted WIDER pass goes on from its last image)
  [ -f "$1/$2/wider/widerface.json" ] && [ -f "$1/$2/landmarks/landmarks.json" ] && return
  wider_spread "$1/$2/wider" "$2" "$3"
  $O evaluate landmarks --list data/landmarks/testImageList.txt --images data/landmarks --weights "$3" \
    --label "$2" --out "$1/$2/landmarks" --no-progress
}
