"""The model card's fixed prose: intended use, limitations, and the terms of the data and of the teacher weights.

Each function takes the stages' records (``training.json``'s ``stages``) and returns card lines, so that what the
prose counts (images, faces, which stages had a teacher) comes from the record, never typed. The terms are those
stated by the sources cited in the lines (read for issue 21); where a source states none, the line says so.
"""

from __future__ import annotations

from pathlib import Path

from ..stages import TITLES as NAMES

WIDER_TRAIN_IMAGES = 12880  # WIDER FACE's train split (Yang et al. 2016)
LFW_HOME = "http://vis-www.cs.umass.edu/lfw/"
WIDER_CARD = "https://huggingface.co/datasets/CUHK-CSE/wider_face"
WIDER_HOME = "http://shuoyang1213.me/WIDERFACE/"
MTCNN_LICENSE = "https://github.com/kpzhang93/MTCNN_face_detection_alignment/blob/master/LICENSE"
FACENET_PYTORCH_LICENSE = "https://github.com/timesler/facenet-pytorch/blob/master/LICENSE.md"


def intended_use_lines() -> list[str]:
    return [
        "- Finding faces and their 5 points (eyes, nose tip, mouth corners) in photos and video frames: roughly frontal "
        "to moderately turned faces of about 20 px or more (the default `min_face_size`), as the step before "
        "alignment, recognition, blurring or counting.",
        "- Not a face recogniser: it says where faces are, not whose they are. Not for decisions about people "
        "(surveillance, access, identification) without a person reviewing each result.",
    ]


def _by_stage(stages: dict[str, dict], value) -> str:
    """``value(stage record)`` once if the stages agree, else per stage (``3315 (P-Net) / 3051 (R-Net, O-Net)``)."""
    groups: dict = {}
    for s, sm in stages.items():
        groups.setdefault(value(sm), []).append(NAMES[s])
    if len(groups) == 1:
        return str(next(iter(groups)))
    return " / ".join(f"{v} ({', '.join(names)})" for v, names in groups.items())


def _teachers(stages: dict[str, dict]) -> dict[str, list[str]]:
    """Teacher weight set -> the stages that learnt from it (``train.teacher``) or on its detections
    (``samples.pseudo``)."""
    out: dict[str, list[str]] = {}
    for s, sm in stages.items():
        pseudo = sm["config"]["samples"].get("pseudo") or {}
        for t in (sm["config"]["train"].get("teacher"), pseudo.get("teacher")):
            if t and NAMES[s] not in out.setdefault(t, []):
                out[t].append(NAMES[s])
    return out


def limitation_lines(stages: dict[str, dict], cascade: dict | None = None) -> list[str]:
    """``cascade``: the detection settings chosen for the set after training (a first pyramid level below 1 is a
    limitation of its own)."""
    wider = _by_stage(stages, lambda sm: sm["data"]["wider_images_used"])
    faces = _by_stage(stages, lambda sm: sm["data"]["wider_faces_used"])
    landmarks = _by_stage(stages, lambda sm: sm["data"]["landmark_faces_used"])
    angles = {sm["config"]["samples"].get("landmark_max_angle") for sm in stages.values()
              if sm["config"]["samples"].get("landmark_rotate")}
    rotated = (f"; in training only landmark faces were rotated, by up to {max(angles):g} degrees" if angles else "")
    # where this set's figures are compared: the default's page, or the variants' for a set of other nets
    doc = "docs/results.md" if {sm["config"]["variant"] for sm in stages.values()} == {"mtcnn"} else "docs/variants.md"
    lines = [
        f"- Trained on the staged data only: {wider} of WIDER FACE's {WIDER_TRAIN_IMAGES:,} train images ({faces} "
        f"annotated faces) and {landmarks} faces of the landmark training list (Data, below). Scenes, cameras and "
        "people unlike these were not seen in training.",
        "- Accuracy: the only figures for this set are those under \"Benchmark figures\" below and in "
        f"{doc} (the validation metrics here are on held-out training crops, not on whole photos).",
        "- Harder cases: faces smaller than the minimum face size, heavily occluded faces, extreme poses (profiles, "
        f"faces seen from above or below) and strong in-plane rotation{rotated}. In every measurement in "
        f"{doc}, WIDER FACE's hard subset, mostly such faces, scores well below its easy one.",
        "- Known gap: openmtcnn's own weights have so far trailed the original MTCNN weights (Zhang et al. 2016) run in "
        f"the same cascade with the same settings; the side-by-side figures are in {doc} and the README.",
        f"- The landmark faces' LFW part under-represents children, people over 80, women and many ethnicities, by "
        f"its makers' own account ({LFW_HOME}).",
    ]
    scale = (cascade or {}).get("pnet_scale")
    if scale is not None and scale < 1:
        lines.append(
            f"- P-Net's first pyramid level is set to {scale:g} of the original cascade's for speed: faces under about "
            f"1/{scale:g} of the minimum face size are found only when the boxes' regression reaches them, so small "
            "faces are missed more often (WIDER FACE's hard subset above all); `pnet_scale=1.0` restores the original "
            "pyramid at the original cost.")
    for teacher, names in _teachers(stages).items():
        lines.append(
            f"- {', '.join(names)} learnt from the weight set `{teacher}` as a teacher (its outputs as soft targets, "
            "or its detections as extra annotations): they take on that teacher's behaviour, errors included, and "
            "rebuilding them needs it.")
    return lines


def terms_lines(stages: dict[str, dict]) -> list[str]:
    lines = [
        "- WIDER FACE (Yang, Luo, Loy and Tang, CVPR 2016; images from the WIDER dataset, collected from the web): the "
        f"dataset card of its copy on Hugging Face ({WIDER_CARD}) states the Creative Commons Attribution-NonCommercial-"
        f"NoDerivatives 4.0 licence (CC BY-NC-ND 4.0). The terms on the project page ({WIDER_HOME}) were not read.",
        "- The 5-point landmark set of Sun, Wang and Tang (CVPR 2013; 5,590 images from Labeled Faces in the Wild and "
        "7,876 from the web): we found no terms of use stated for it in any source we could read; LFW's homepage "
        f"({LFW_HOME}) states none in the part we read.",
    ]
    for teacher, names in _teachers(stages).items():
        if Path(teacher).name == "original":
            lines.append(
                f"- The teacher `{teacher}` of {', '.join(names)}: the original MTCNN weights (Zhang, Zhang, Li and Qiao, "
                "IEEE Signal Processing Letters 2016) as `openmtcnn convert-weights` writes them from facenet-pytorch's "
                f"converted files. The authors' repository, which publishes them with their code, carries the MIT License "
                f"({MTCNN_LICENSE}); facenet-pytorch is MIT-licensed as well ({FACENET_PYTORCH_LICENSE}).")
        else:
            lines.append(f"- The teacher `{teacher}` of {', '.join(names)}: its terms are those of the weights it holds; "
                         "this record does not say which.")
    lines.append(
        "- This project uses the data for non-commercial research and education, under their owners' terms. Its MIT "
        "licence covers the code; none of the sources above says whether weights trained on the data are bound by "
        "the data's terms.")
    return lines
