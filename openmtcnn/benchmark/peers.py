"""The detectors under test (openmtcnn and the peers a user could pick instead), the settings they all
run with, and the images they run on."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


#: the data of a source checkout, relative to the working directory (the benchmark runs from the checkout)
WIDER_VAL = Path("data") / "widerface" / "WIDER_val" / "images"
# fixed photos (several faces each), centre-cropped to the aspect ratio and resized
VGA_SOURCE = WIDER_VAL / "11--Meeting" / "11_Meeting_Meeting_11_Meeting_Meeting_11_807.jpg"
HD_SOURCE = WIDER_VAL / "10--People_Marching" / "10_People_Marching_People_Marching_2_256.jpg"
MIN_FACE = 20
THRESHOLDS = (0.6, 0.7, 0.7)
FACTOR = 0.709

#: openmtcnn's weight sets under test: peer name -> the key of its resolved weight folder in the run's spec
OURS = {"openmtcnn": "ours_weights", "openmtcnn-dw": "dw_weights", "openmtcnn-original": "original_weights"}
PEERS = [*OURS, "facenet-pytorch", "mtcnn-tf", "opencv-haar", "dlib-hog"]
PEER_NOTES = {
    "openmtcnn": "ONNX Runtime, openmtcnn's own trained weights",
    "openmtcnn-dw": "ONNX Runtime, openmtcnn's depthwise-separable set `mtcnn-dw` (docs/variants.md)",
    "openmtcnn-original": "ONNX Runtime, the original MTCNN weights (converted from facenet-pytorch's files)",
    "facenet-pytorch": "facenet-pytorch 2.6.0 MTCNN, PyTorch CPU",
    "mtcnn-tf": "`mtcnn` package 1.0.0, TensorFlow CPU",
    "opencv-haar": "OpenCV 4.x Haar cascade (frontalface_default, scaleFactor 1.1, minNeighbors 5, minSize 20)",
    "dlib-hog": "dlib HOG frontal face detector, upsample 1 (smallest face about 40 px)",
}


def fit(rgb, width: int, height: int):
    """Centre-crop to the aspect ratio of ``width x height``, then resize (area when shrinking)."""
    import cv2

    h, w = rgb.shape[:2]
    if w * height > h * width:
        cw, ch = h * width // height, h
    else:
        cw, ch = w, w * height // width
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = rgb[y0 : y0 + ch, x0 : x0 + cw]
    interp = cv2.INTER_AREA if cw > width else cv2.INTER_LINEAR
    return cv2.resize(crop, (width, height), interpolation=interp)


def wider_sample(root: Path, n: int) -> list[Path]:
    """``n`` images spread evenly over the sorted list of WIDER val images (a fixed rule)."""
    files = sorted(p for p in root.rglob("*.jpg"))
    if not files:
        raise SystemExit(f"no WIDER val images under {root} (give --wider DIR)")
    n = min(n, len(files))
    return [files[(i * len(files)) // n] for i in range(n)]


class Peer:
    """A detector under test: ``setup(threads)``, then ``detect(rgb) -> number of faces``."""

    name = ""

    def setup(self, threads: int) -> None: ...

    def detect(self, rgb) -> int: ...


class Ours(Peer):
    def __init__(self, name: str, weights: str):
        self.name, self.weights = name, weights

    def setup(self, threads):
        from openmtcnn import Detector

        self.det = Detector(self.weights, threads=threads, min_face_size=MIN_FACE, thresholds=THRESHOLDS, scale_factor=FACTOR)

    def detect(self, rgb):
        from openmtcnn.detect import StageTimer

        self.timer = StageTimer.cpu()  # stage breakdown in CPU time: steadier on a busy machine
        self.last = self.det.detect_rgb(rgb, timer=self.timer)
        return len(self.last)


class Facenet(Peer):
    name = "facenet-pytorch"

    def setup(self, threads):
        import torch
        from facenet_pytorch import MTCNN

        torch.set_num_threads(threads)
        self.torch = torch
        self.m = MTCNN(keep_all=True, min_face_size=MIN_FACE, thresholds=list(THRESHOLDS), factor=FACTOR, device="cpu", post_process=False)

    def detect(self, rgb):
        with self.torch.inference_mode():
            boxes, _ = self.m.detect(rgb)
        return 0 if boxes is None else len(boxes)


class MtcnnTF(Peer):
    name = "mtcnn-tf"

    def setup(self, threads):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # already initialised: the worker sets this first thing, so only in odd setups
        from mtcnn import MTCNN

        self.m = MTCNN(device="CPU:0")

    def detect(self, rgb):
        faces = self.m.detect_faces(
            rgb, min_face_size=MIN_FACE, scale_factor=FACTOR,
            threshold_pnet=THRESHOLDS[0], threshold_rnet=THRESHOLDS[1], threshold_onet=THRESHOLDS[2],
        )
        return len(faces)


class Haar(Peer):
    name = "opencv-haar"

    def setup(self, threads):
        import cv2

        if not hasattr(cv2, "data") or not Path(cv2.data.haarcascades, "haarcascade_frontalface_default.xml").is_file():
            raise ImportError(f"OpenCV {cv2.__version__} has no Haar cascade files (they ship with opencv-python-headless 4.x)")
        cv2.setNumThreads(threads)
        self.cv2 = cv2
        self.c = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")))

    def detect(self, rgb):
        gray = self.cv2.cvtColor(rgb, self.cv2.COLOR_RGB2GRAY)
        return len(self.c.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(MIN_FACE, MIN_FACE)))


class DlibHog(Peer):
    name = "dlib-hog"

    def setup(self, threads):
        import dlib

        self.d = dlib.get_frontal_face_detector()  # single-threaded whatever `threads` says

    def detect(self, rgb):
        return len(self.d(rgb, 1))


def make_peer(name: str, spec: dict) -> Peer:
    if name in OURS:
        return Ours(name, spec[OURS[name]])
    return {"facenet-pytorch": Facenet, "mtcnn-tf": MtcnnTF, "opencv-haar": Haar, "dlib-hog": DlibHog}[name]()


def find_weights(args) -> tuple[dict, dict]:
    """Weight folders for our sets and for the original weights (converted here when needed)."""
    from openmtcnn.weights import WeightsError, resolve_weights

    found, why = {}, {}
    for name, weights in (("openmtcnn", args.weights), ("openmtcnn-dw", args.dw_weights)):
        try:
            found[OURS[name]] = str(resolve_weights(weights))
        except WeightsError as e:
            why["why_no_" + name] = str(e).split(". ")[0]
    if args.original:
        found["original_weights"] = str(resolve_weights(args.original))
    else:
        try:
            from openmtcnn.compat import export_original

            out = Path(tempfile.mkdtemp(prefix="openmtcnn-original-"))
            found["original_weights"] = str(export_original(out))
        except Exception as e:
            why["why_no_openmtcnn-original"] = f"cannot convert the original weights here ({type(e).__name__}: {e}); give --original DIR"
    return found, why
