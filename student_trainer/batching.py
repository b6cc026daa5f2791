"""Examples → tensor batches for each student (tokenisation, targets, evidence masks).

A batch is a plain `dict[str, Tensor]`. Optional parts (the evidence mask, the CoT
analysis texts) are only built when a loss that needs them has a positive weight, so a
zero weight also removes their tokenisation cost. `epoch_order` decides which examples
share a batch: a within-query ranking term needs several rows of one query together.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from relstream.core.cot import word_matches
from relstream.core.schemas import normalize_query
from student_trainer.data import Example

Batch = dict[str, Tensor]
_WORD = re.compile(r"\w+")


def query_ids(examples: Sequence[Example]) -> Tensor:
    """[B] long: the same index for rows whose normalised queries are equal (first seen 0)."""
    index: dict[str, int] = {}
    return torch.tensor([index.setdefault(normalize_query(e.query), len(index))
                         for e in examples], dtype=torch.long)


def _targets(examples: Sequence[Example]) -> Batch:
    probs = torch.tensor([e.teacher_probs for e in examples], dtype=torch.float32)
    return {
        "teacher_probs": probs,
        "labels": probs.argmax(dim=-1),
        "dim_targets": torch.tensor([e.dim_targets for e in examples], dtype=torch.long),
        "query_ids": query_ids(examples),
    }


def epoch_order(examples: Sequence[Example], group: int, rng: random.Random) -> list[int]:
    """One epoch's example indices; the trainer cuts it into consecutive batches.

    group <= 1: a uniform shuffle (`rng.shuffle` of 0..N−1, exactly what the trainer
    always did, so seeded runs are unchanged). group = k >= 2: each query's examples are
    shuffled and cut into chunks of up to k, and the chunks are shuffled, so a batch of
    size b holds about b/k queries with k rows each instead of b rows of b queries, which
    gives a within-query ranking term up to k(k−1)/2 pairs per chunk to learn from.
    """
    order = list(range(len(examples)))
    if group <= 1:
        rng.shuffle(order)
        return order
    by_query: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        by_query.setdefault(normalize_query(example.query), []).append(i)
    chunks: list[list[int]] = []
    for rows in by_query.values():
        rng.shuffle(rows)
        chunks.extend(rows[k:k + group] for k in range(0, len(rows), group))
    rng.shuffle(chunks)
    return [i for chunk in chunks for i in chunk]


def evidence_words(evidence: Sequence[str]) -> set[str]:
    return {w.lower() for phrase in evidence for w in _WORD.findall(phrase)}


def evidence_mask(encoding: Any, examples: Sequence[Example], length: int) -> Tensor:
    """[B, L] 1.0 on tokens whose word (in query or item text) is a CoT deciding word."""
    mask = torch.zeros((len(examples), length), dtype=torch.float32)
    for b, ex in enumerate(examples):
        words = evidence_words(ex.evidence)
        if not words:
            continue
        texts = (ex.query, ex.item_text)
        seq_ids = encoding.sequence_ids(b)
        for i, word_id in enumerate(encoding.word_ids(b)):
            if word_id is None or seq_ids[i] is None:
                continue
            span = encoding.word_to_chars(b, word_id, sequence_index=seq_ids[i])
            if word_matches(texts[seq_ids[i]][span.start:span.end], words):
                mask[b, i] = 1.0
    return mask


def cross_encoder_batch(
    examples: Sequence[Example], tokenizer: Any, max_length: int, *, with_evidence: bool = False
) -> Batch:
    """`[CLS] query [SEP] item text [SEP]` ids, masks, type ids, targets (+ evidence mask)."""
    enc = tokenizer(
        [e.query for e in examples], [e.item_text for e in examples],
        truncation="longest_first", max_length=max_length, padding=True, return_tensors="pt",
    )
    batch: Batch = {
        "input_ids": enc["input_ids"],
        "attention_mask": enc["attention_mask"],
        "token_type_ids": enc["token_type_ids"],
        **_targets(examples),
    }
    if with_evidence:
        batch["evidence_mask"] = evidence_mask(enc, examples, enc["input_ids"].shape[1])
    return batch


def _single(tokenizer: Any, texts: list[str], max_length: int, prefix: str) -> Batch:
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=True,
                    return_tensors="pt")
    return {f"{prefix}input_ids": enc["input_ids"],
            f"{prefix}attention_mask": enc["attention_mask"]}


def two_tower_batch(
    examples: Sequence[Example], tokenizer: Any, max_length: int, *, with_cot: bool = False
) -> Batch:
    """Query-tower and item-tower ids and masks, targets (+ the CoT analysis texts)."""
    batch: Batch = {
        **_single(tokenizer, [e.query for e in examples], max_length, "q_"),
        **_single(tokenizer, [e.item_text for e in examples], max_length, "i_"),
        **_targets(examples),
    }
    if with_cot:
        batch.update(_single(tokenizer, [e.query_cot for e in examples], max_length, "cq_"))
        batch.update(_single(tokenizer, [e.item_cot for e in examples], max_length, "ci_"))
    return batch
