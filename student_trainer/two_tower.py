"""The representation-based student: a two-tower model with a small scoring head.

Both towers share one encoder (ReprBERT-style) and mean-pool its last layer into an
embedding; item embeddings can therefore be computed once and cached. The head scores
`[u, v, |u−v|, u·v]` (u query, v item embedding, · elementwise) into 4-way logits. Its
CoT term pulls each tower's embedding towards the embedding of the CoT's query-analysis
or item-analysis text (in-batch InfoNCE), so the towers learn which attributes matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from student_trainer.batching import Batch, two_tower_batch
from student_trainer.config import (
    CHECK_CLASSES,
    DIMENSIONS,
    NUM_GRADES,
    LossWeights,
    StudentConfig,
)
from student_trainer.data import Example
from student_trainer.encoders import masked_mean
from student_trainer.losses import embedding_alignment
from student_trainer.student_base import Student

TOWER_INPUTS = ("input_ids", "attention_mask")
HEAD_INPUTS = ("query_embedding", "item_embedding")


class TwoTower(Student):
    """Two-tower student; `embed` is one tower, `head` scores a pair of embeddings."""

    kind = "two_tower"

    def __init__(self, config: StudentConfig, encoder: Any) -> None:
        super().__init__(config)
        self.encoder = encoder
        d = encoder.config.hidden_size
        self.hidden = nn.Sequential(
            nn.Linear(4 * d, config.head_hidden), nn.GELU(), nn.Dropout(config.dropout)
        )
        self.grade_head = nn.Linear(config.head_hidden, NUM_GRADES)
        self.dim_head = nn.Linear(config.head_hidden, len(DIMENSIONS) * len(CHECK_CLASSES))

    @property
    def embedding_dim(self) -> int:
        return int(self.encoder.config.hidden_size)

    def embed(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """One tower: mean of the last hidden states over real tokens → [B, d]."""
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return masked_mean(states, attention_mask)

    def head_features(self, u: Tensor, v: Tensor) -> Tensor:
        return self.hidden(torch.cat([u, v, (u - v).abs(), u * v], dim=-1))

    def head(self, u: Tensor, v: Tensor) -> Tensor:
        """Logits [B, 4] from query embeddings u and item embeddings v ([B, d] each)."""
        return self.grade_head(self.head_features(u, v))

    def make_batch(self, examples: Sequence[Example], tokenizer: Any,
                   weights: LossWeights | None = None) -> Batch:
        return two_tower_batch(examples, tokenizer, self.max_length,
                               with_cot=bool(weights and weights.emb > 0))

    def forward(self, batch: Batch, *, dims: bool = False, attention: bool = False,
                cot: bool = False) -> dict[str, Tensor]:
        u = self.embed(batch["q_input_ids"], batch["q_attention_mask"])
        v = self.embed(batch["i_input_ids"], batch["i_attention_mask"])
        features = self.head_features(u, v)
        out = {"logits": self.grade_head(features), "query_embedding": u, "item_embedding": v}
        if dims:
            out["dim_logits"] = self.dim_head(features).view(
                -1, len(DIMENSIONS), len(CHECK_CLASSES))
        if cot:
            out["query_cot_embedding"] = self.embed(batch["cq_input_ids"],
                                                    batch["cq_attention_mask"])
            out["item_cot_embedding"] = self.embed(batch["ci_input_ids"],
                                                   batch["ci_attention_mask"])
        return out

    def extra_loss_terms(self, out: dict[str, Tensor], batch: Batch,
                         weights: LossWeights) -> dict[str, Tensor]:
        if weights.emb <= 0:
            return {}
        t = weights.emb_temperature
        q = embedding_alignment(out["query_embedding"], out["query_cot_embedding"], t)
        i = embedding_alignment(out["item_embedding"], out["item_cot_embedding"], t)
        return {"emb": (q + i) / 2}

    def onnx_graphs(self) -> dict[str, tuple[nn.Module, tuple[str, ...], tuple[str, ...]]]:
        tower = _TowerGraph(self)
        return {
            "query_tower": (tower, TOWER_INPUTS, ("embedding",)),
            "item_tower": (tower, TOWER_INPUTS, ("embedding",)),
            "head": (_HeadGraph(self), HEAD_INPUTS, ("logits",)),
        }


class _TowerGraph(nn.Module):
    def __init__(self, student: TwoTower) -> None:
        super().__init__()
        self.student = student

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.student.embed(input_ids, attention_mask)


class _HeadGraph(nn.Module):
    def __init__(self, student: TwoTower) -> None:
        super().__init__()
        self.student = student

    def forward(self, query_embedding: Tensor, item_embedding: Tensor) -> Tensor:
        return self.student.head(query_embedding, item_embedding)
