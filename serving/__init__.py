"""Scoring service: ONNX models with hot swap, A/B arms, ClickHouse metrics, A/B report."""
