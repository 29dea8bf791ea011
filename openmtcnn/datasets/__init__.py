"""Readers of the data sets, shared by training and evaluation (numpy and scipy only; no package imports).

* :mod:`.wider`: WIDER FACE's training list (``read_wider_gt``, ``existing``) and the official
  validation ground truth (``WiderGroundTruth``);
* :mod:`.landmarks`: the 5-point landmark list (``read_landmark_list``);
* :mod:`.conventions`: each set's pixel convention and its conversion to openmtcnn's (applied by the readers).
"""


class FormatError(ValueError):
    """A data, prediction or annotation file that does not follow its format; the message names it."""
