"""Stand-in ONNX models with the exact input/output signatures of the real ones.

Built with ``onnx.helper`` at test time (no weights are downloaded). One module per family:
``face`` (SCRFD, ArcFace, inswapper, simswap), ``quality`` (GFPGAN, CodeFormer, GPEN, BiSeNet,
XSeg), ``voice`` (RVC content encoder, pitch, synthesizer).
"""
