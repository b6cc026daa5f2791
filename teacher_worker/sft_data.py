"""SFT examples: CoT annotations + catalog → (prompt ids, answer ids) with loss masks.

An annotation line is `{"query", "item_id", "grade", "cot", ...}` (the simulator's
`cot_annotations.jsonl`, or `relstream teacher annotate` output). The prompt is exactly the
inference prompt (`teacher_worker.prompt`); the answer is the CoT followed by the end-of-
turn token, and only answer tokens carry loss (prompt positions get label -100).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.cot import CotParseError, parse_cot
from streams.schemas import CatalogItem
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.prompt import build_prompt

IGNORE = -100


@dataclass(frozen=True)
class SftExample:
    input_ids: list[int]
    labels: list[int]


def read_annotations(path: Path, splits: Sequence[str] | None = ("train",)) -> list[dict[str, Any]]:
    """Annotation lines from a JSONL file, kept when their `split` is in `splits` (None: all).

    A line without a `split` field is kept; a line whose CoT does not parse is an error,
    since training on it would teach the model a broken format.
    """
    out = []
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                parse_cot(row["cot"])
            except (json.JSONDecodeError, KeyError, CotParseError) as exc:
                raise TeacherWorkerError(f"{path}:{n}: not a usable CoT annotation: {exc}") from exc
            if splits is None or row.get("split") is None or row["split"] in splits:
                out.append(row)
    return out


def build_examples(
    tokenizer: Any, rows: Iterable[Mapping[str, Any]], catalog: Mapping[str, CatalogItem],
    max_length: int = 512,
) -> list[SftExample]:
    """Tokenised examples; rows whose item is not in the catalog are an error."""
    eot = tokenizer.eos_token
    examples = []
    for row in rows:
        item = catalog.get(row["item_id"])
        if item is None:
            raise TeacherWorkerError(f"annotation for item {row['item_id']!r}: not in the catalog")
        prompt = tokenizer(build_prompt(tokenizer, row["query"], item),
                           add_special_tokens=False).input_ids
        answer = tokenizer(row["cot"].strip() + eot, add_special_tokens=False).input_ids
        ids = (prompt + answer)[:max_length]
        labels = ([IGNORE] * len(prompt) + answer)[:max_length]
        examples.append(SftExample(ids, labels))
    return examples


def collate(examples: Sequence[SftExample], pad_id: int, multiple: int = 64
            ) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask, labels (-100 on padding).

    The width is rounded up to a multiple of `multiple`: with a new width every step, the
    CPU allocator and oneDNN's per-shape kernel cache grew a bf16 SFT run by ~0.2 GiB a
    step until it was OOM-killed here; a few bucketed widths keep it flat.
    """
    import torch

    width = max(len(e.input_ids) for e in examples)
    width = -(-width // multiple) * multiple
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for k, e in enumerate(examples):
        n = len(e.input_ids)
        ids[k, :n] = torch.tensor(e.input_ids)
        labels[k, :n] = torch.tensor(e.labels)
        mask[k, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
