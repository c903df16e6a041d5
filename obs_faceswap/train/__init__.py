"""Training (torch, optional extra ``train``): ReSwapper distillation, DF/LIAE -> DFM.

Inference never imports this package.
"""
