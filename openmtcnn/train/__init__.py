"""Training the MTCNN nets: annotation readers, sample generation, the trainer, the pipeline and the model card.

Needs the ``train`` extra (torch, onnx, matplotlib, pyyaml). Entry point: ``openmtcnn train``.
"""
