"""The training annotations' readers, now in :mod:`openmtcnn.datasets` (shared with evaluation).

Kept until ``train/samples.py`` imports :mod:`openmtcnn.datasets.wider` and
:mod:`openmtcnn.datasets.landmarks` itself; then this module goes.
"""

from ..datasets.landmarks import LandmarkFace, read_landmark_list  # noqa: F401
from ..datasets.wider import WIDER_FLAGS, AnnotationError, Found, WiderImage, existing, read_wider_gt  # noqa: F401
