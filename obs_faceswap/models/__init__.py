"""Model registry (manifest, download, verify) and the one ONNX Runtime session factory."""
