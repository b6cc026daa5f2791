"""Build a student from its config or a checkpoint file: the one place that knows both kinds.

Kept apart from `student_base` so the base class does not import its own subclasses.
"""

from __future__ import annotations

from typing import Any

from student_trainer.config import StudentConfig
from student_trainer.cross_encoder import CrossEncoder
from student_trainer.student_base import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    Student,
    read_student_file,
)
from student_trainer.two_tower import TwoTower


def build_student(config: StudentConfig, *, pretrained: bool = True,
                  tokenizer: Any = None) -> Student:
    """The student `config.kind` describes, with MiniLM weights or a tiny random encoder."""
    from student_trainer.encoders import build_encoder, load_tokenizer

    tokenizer = tokenizer or load_tokenizer(config.encoder.weights_dir or None)
    encoder = build_encoder(config.encoder, len(tokenizer), pretrained=pretrained)
    if config.kind == "cross_encoder":
        return CrossEncoder(config, encoder)
    return TwoTower(config, encoder)


def load_checkpoint(path: str) -> tuple[Student, dict[str, Any]]:
    """Rebuild a student from a checkpoint file; returns it (eval mode) and the checkpoint."""
    ckpt = read_student_file(path)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    config = StudentConfig.from_dict(ckpt["student_config"])
    student = build_student(config, pretrained=False)
    try:
        student.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the embedded config: {exc}") from exc
    student.eval()
    return student, ckpt
