"""The interaction-based student: a BERT-style cross-encoder over query and item text.

Input `[CLS] query [SEP] item text [SEP]`; the last layer, mean-pooled over the pair's
tokens (or its `[CLS]` state, `StudentConfig.pooling`), feeds a 4-way grade head and the
per-dimension heads. Its CoT term is attention alignment: the last layer's
`[CLS]`→token attention (mean over heads) pulled towards the CoT's deciding tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from student_trainer.batching import Batch, cross_encoder_batch
from student_trainer.config import (
    CHECK_CLASSES,
    DIMENSIONS,
    NUM_GRADES,
    LossWeights,
    StudentConfig,
)
from student_trainer.data import Example
from student_trainer.encoders import masked_mean
from student_trainer.losses import attention_alignment
from student_trainer.student_base import Student

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


class CrossEncoder(Student):
    """Cross-encoder student; `forward` takes a batch from `make_batch`."""

    kind = "cross_encoder"

    def __init__(self, config: StudentConfig, encoder: Any) -> None:
        super().__init__(config)
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(config.dropout)
        self.grade_head = nn.Linear(hidden, NUM_GRADES)
        self.dim_head = nn.Linear(hidden, len(DIMENSIONS) * len(CHECK_CLASSES))

    def make_batch(self, examples: Sequence[Example], tokenizer: Any,
                   weights: LossWeights | None = None) -> Batch:
        return cross_encoder_batch(examples, tokenizer, self.max_length,
                                   with_evidence=bool(weights and weights.attn > 0))

    def forward(self, batch: Batch, *, dims: bool = False, attention: bool = False,
                cot: bool = False) -> dict[str, Tensor]:
        enc = self.encoder(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"], output_attentions=attention,
        )
        states = enc.last_hidden_state
        if self.config.pooling == "mean":
            pooled = masked_mean(states, batch["attention_mask"])
        else:
            pooled = states[:, 0]
        pooled = self.dropout(pooled)
        out = {"logits": self.grade_head(pooled)}
        if dims:
            out["dim_logits"] = self.dim_head(pooled).view(-1, len(DIMENSIONS),
                                                           len(CHECK_CLASSES))
        if attention:
            out["cls_attention"] = enc.attentions[-1][:, :, 0, :].mean(dim=1)
        return out

    def extra_loss_terms(self, out: dict[str, Tensor], batch: Batch,
                         weights: LossWeights) -> dict[str, Tensor]:
        if weights.attn > 0:
            return {"attn": attention_alignment(out["cls_attention"], batch["evidence_mask"])}
        return {}

    def onnx_graphs(self) -> dict[str, tuple[nn.Module, tuple[str, ...], tuple[str, ...]]]:
        return {"scorer": (_ScorerGraph(self), INPUT_NAMES, ("logits",))}


class _ScorerGraph(nn.Module):
    """(input_ids, attention_mask, token_type_ids) → logits: the exported graph."""

    def __init__(self, student: CrossEncoder) -> None:
        super().__init__()
        self.student = student

    def forward(self, input_ids: Tensor, attention_mask: Tensor,
                token_type_ids: Tensor) -> Tensor:
        batch = {"input_ids": input_ids, "attention_mask": attention_mask,
                 "token_type_ids": token_type_ids}
        return self.student(batch)["logits"]
