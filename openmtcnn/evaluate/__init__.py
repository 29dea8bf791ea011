"""Evaluation with the benchmarks' own protocols: WIDER FACE AP, landmark NME, FDDB ROC, results report.

Modules: :mod:`.widerface` (official WIDER FACE val evaluation and a resumable
detection pass), :mod:`.landmarks` (inter-ocular normalised error),
:mod:`.fddb` (FDDB files and discrete / continuous ROC), :mod:`.formats`
(the shared text block format), :mod:`.plots`, :mod:`.report`.
"""
