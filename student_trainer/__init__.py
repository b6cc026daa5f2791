"""Students (cross-encoder, two-tower), MKD losses, training, evaluation, ONNX export."""
