"""Evaluation with the benchmarks' own protocols: WIDER FACE AP, landmark NME, FDDB ROC, results report.

Modules: :mod:`.widerface` (a resumable detection pass over WIDER FACE val) with
:mod:`.widerface_ap` (the official evaluation), :mod:`.landmarks` (inter-ocular
normalised error), :mod:`.fddb` (FDDB files and discrete / continuous ROC),
:mod:`.stages` (recall after each stage); each has ``run()``, one whole evaluation
that writes its summary JSON and plots and returns the summary. :mod:`.runs` (what
every summary records), :mod:`.formats` (the shared text block format), :mod:`.plots`,
:mod:`.report`.
"""
