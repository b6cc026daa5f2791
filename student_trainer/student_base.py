"""What every student offers: batches, forward, the MKD loss hook, scores, checkpoints.

A student is an `nn.Module` that knows how to turn examples into its batch, how to
compute its outputs and the weighted MKD loss, how to mix grade probabilities into one
relevance score, and which ONNX graphs it exports. The trainer owns everything else.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from relstream.core.schemas import GRADES
from student_trainer.batching import Batch
from student_trainer.config import RANK_GAINS, LossWeights, StudentConfig
from student_trainer.data import Example
from student_trainer.errors import StudentTrainerError
from student_trainer.losses import (
    dimension_loss,
    hard_label_ce,
    kd_kl,
    teacher_expected_gain,
    within_query_ranking,
)

CHECKPOINT_FORMAT = "relstream-student-v1"


class CheckpointError(StudentTrainerError):
    """A checkpoint file is missing, of another format, or does not fit its config."""


class Student(nn.Module):
    """Base class of the two students; subclasses define the encoder use and the graphs."""

    kind: str = ""
    encoder: Any  # a transformers BertModel

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        self.max_length = config.encoder.max_length

    # --- subclass hooks -------------------------------------------------------------------

    def make_batch(self, examples: Sequence[Example], tokenizer: Any, weights: LossWeights | None
                   = None) -> Batch:
        raise NotImplementedError

    def forward(self, batch: Batch, *, dims: bool = False, attention: bool = False,
                cot: bool = False) -> dict[str, Tensor]:
        """Outputs: `logits` [B, 4] always; `dim_logits` [B, D, 3] if dims; the
        cross-encoder's `cls_attention` [B, L] if attention; the two-tower's CoT
        embeddings if cot."""
        raise NotImplementedError

    def extra_loss_terms(self, out: dict[str, Tensor], batch: Batch,
                         weights: LossWeights) -> dict[str, Tensor]:
        """Student-specific CoT terms (attention or embedding alignment)."""
        return {}

    def onnx_graphs(self) -> dict[str, tuple[nn.Module, tuple[str, ...], tuple[str, ...]]]:
        """Role → (module, input names, output names) of each exported graph."""
        raise NotImplementedError

    # --- shared -------------------------------------------------------------------------------

    def loss(self, batch: Batch, weights: LossWeights) -> tuple[Tensor, dict[str, float]]:
        """The weighted MKD loss and each term's value; zero-weight terms are not computed."""
        batch = self.to_device(batch)
        out = self(batch, dims=weights.dim > 0, attention=weights.attn > 0, cot=weights.emb > 0)
        terms: dict[str, Tensor] = {}
        if weights.ce > 0:
            terms["ce"] = hard_label_ce(out["logits"], batch["labels"])
        if weights.kd > 0:
            terms["kd"] = kd_kl(out["logits"], batch["teacher_probs"], weights.temperature)
        if weights.dim > 0:
            terms["dim"] = dimension_loss(out["dim_logits"], batch["dim_targets"])
        if weights.rank > 0:
            # Ranked by the served score, so the term shapes exactly what serving sorts by.
            gains = teacher_expected_gain(batch["teacher_probs"], torch.tensor(RANK_GAINS))
            terms["rank"] = within_query_ranking(
                self.scores(out["logits"]), gains, batch["query_ids"],
                weights.rank_temperature, weights.rank_margin)
        terms.update(self.extra_loss_terms(out, batch, weights))
        total = sum((getattr(weights, name) * value for name, value in terms.items()),
                    start=torch.zeros((), device=out["logits"].device))
        return total, {name: float(value.detach()) for name, value in terms.items()}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def to_device(self, batch: Batch) -> Batch:
        """The batch on the student's device (a new dict; the caller's stays as it was)."""
        device = self.device
        return {k: v.to(device) for k, v in batch.items()}

    def score_vector(self) -> Tensor:
        return torch.tensor([self.config.score_weights[g] for g in GRADES])

    def scores(self, logits: Tensor) -> Tensor:
        """Relevance in [0, 1]: Σ_g w_g·softmax(logits)_g with the config's score weights."""
        return torch.softmax(logits, dim=-1) @ self.score_vector().to(logits)

    @torch.no_grad()
    def predict_logits(self, examples: Sequence[Example], tokenizer: Any,
                       batch_size: int = 64) -> Tensor:
        """Logits [N, 4] in eval mode; the training mode is restored afterwards."""
        was_training = self.training
        self.eval()
        try:
            chunks = [
                self(self.to_device(self.make_batch(examples[i:i + batch_size], tokenizer)))[
                    "logits"].float().cpu()
                for i in range(0, len(examples), batch_size)
            ]
        finally:
            self.train(was_training)
        return torch.cat(chunks) if chunks else torch.zeros((0, len(GRADES)))

    def checkpoint(self, **extra: Any) -> dict[str, Any]:
        """A self-describing checkpoint: config + weights (+ whatever the trainer adds)."""
        return {"format": CHECKPOINT_FORMAT, "student_config": self.config.to_dict(),
                "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
                **extra}


def read_student_file(path: str | Path) -> dict[str, Any]:
    """The dict inside a student checkpoint file, read without running any pickled code.

    `weights_only=True` lets through tensors and plain containers of numbers and strings
    only (a checkpoint is config + weights), so a file whose pickle would call something,
    e.g. a published `student.pt` someone swapped, is refused instead of executed.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    return ckpt
