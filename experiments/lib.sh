# Shell helpers shared by the issue 22 experiment scripts, sourced from the checkout's root. The commands they run
# (OPENMTCNN, PYTHON: the checkout's venv unless set), issue 22's runs folder R, and the WIDER val spread's size N.
O=${OPENMTCNN:-.venv/bin/openmtcnn}
PY=${PYTHON:-.venv/bin/python}
R=runs/study22
N=${SAMPLE:-500}

link_samples() {  # link_samples STAGE RUNS_FROM RUNS_TO: the same samples, not remade (same fingerprint)
  mkdir -p "$3/$1"
  [ -e "$3/$1/samples" ] || ln -s "$(realpath "$2/$1/samples")" "$3/$1/samples"
}

scaled_set() {  # scaled_set FROM_SET TO_SET SCALE: FROM_SET's nets with P-Net's first pyramid level x SCALE
  mkdir -p "$2"
  for f in pnet.onnx rnet.onnx onet.onnx MODEL_CARD.md training.json; do  # training.json: sets exported since it exists
    [ -e "$2/$f" ] || [ ! -e "$1/$f" ] || ln -s "$(realpath "$1/$f")" "$2/$f"
  done
  $PY - "$1/manifest.json" "$2/manifest.json" "$3" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["cascade"] = dict(m.get("cascade", {}), pnet_scale=float(sys.argv[3]))  # weight-bound: Detector(weights=DIR) uses it
json.dump(m, open(sys.argv[2], "w"), indent=2)
PYEOF
}

evaluate_spread() {  # evaluate_spread OUT LABEL WEIGHTS: the fixed spread of N WIDER val images at the authors'
  # settings, then the landmark test list, into OUT/LABEL/{wider,landmarks}
  # (a set with both summaries written is done; an interrupted WIDER pass goes on from its last image)
  [ -f "$1/$2/wider/widerface.json" ] && [ -f "$1/$2/landmarks/landmarks.json" ] && return
  $O evaluate widerface --images data/widerface/WIDER_val/images --gt data/widerface/eval_tools/ground_truth \
    --weights "$3" --sample "$N" --label "$2" --out "$1/$2/wider" --no-progress
  $O evaluate landmarks --list data/landmarks/testImageList.txt --images data/landmarks --weights "$3" \
    --label "$2" --out "$1/$2/landmarks" --no-progress
}
