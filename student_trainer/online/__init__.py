"""Continuous student training: teacher labels in, gated ONNX versions out (`train online`)."""
