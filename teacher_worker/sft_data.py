"""SFT examples: CoT annotations + catalog → (prompt ids, answer ids) with loss masks.

An annotation line is `{"query", "item_id", "grade", "cot", ...}` (the simulator's
`cot_annotations.jsonl`, or `relstream teacher annotate` output). The prompt is exactly the
inference prompt (`teacher_worker.prompt`); the answer is the CoT followed by the end-of-
turn token, and only answer tokens carry loss (prompt positions get label -100).

Decision tokens — each check's status (`match`, `mismatch`, `not_stated`) and the grade
letter — can carry a larger loss weight (`decision_weight`). They are a few of the ~100
answer tokens, so with plain token-mean loss a short run learns the format (copying
dimension values) long before it learns to compare them: a 30-minute CPU run here wrote
`brand=match[altly, Omaora]` and spread its grade over E and S for all-match checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relstream.core.cot import CotParseError, parse_cot
from relstream.core.schemas import CatalogItem
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.prompt import build_prompt

IGNORE = -100
_DECISION = re.compile(r"=(match|mismatch|not_stated)\b|^Grade: ?([ESCI])\b", re.MULTILINE)


@dataclass(frozen=True)
class SftExample:
    input_ids: list[int]
    labels: list[int]
    # Loss weight per position (0 on the prompt); None means 1 on every answer token.
    weights: list[float] | None = None


def decision_spans(cot: str) -> list[tuple[int, int]]:
    """Character spans of the decision words in a CoT: check statuses and the grade."""
    spans = []
    for m in _DECISION.finditer(cot):
        group = 1 if m.group(1) else 2
        spans.append((m.start(group), m.end(group)))
    return spans


def answer_weights(tokenizer: Any, answer: str, decision_weight: float
                   ) -> tuple[list[int], list[float]]:
    """Answer token ids and their loss weights: `decision_weight` on decision tokens, else 1."""
    enc = tokenizer(answer, add_special_tokens=False, return_offsets_mapping=True)
    spans = decision_spans(answer)
    weights = [decision_weight if any(s < end and start < e for s, e in spans) else 1.0
               for start, end in enc["offset_mapping"]]
    return list(enc["input_ids"]), weights


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
    max_length: int = 512, decision_weight: float = 1.0,
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
        answer, weights = answer_weights(tokenizer, row["cot"].strip() + eot, decision_weight)
        ids = (prompt + answer)[:max_length]
        labels = ([IGNORE] * len(prompt) + answer)[:max_length]
        examples.append(SftExample(ids, labels, ([0.0] * len(prompt) + weights)[:max_length]
                                   if decision_weight != 1.0 else None))
    return examples


def collate(examples: Sequence[SftExample], pad_id: int, multiple: int = 64
            ) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask, labels (-100 on padding), and
    `weights` when any example carries loss weights (1 on answer tokens of those that don't).

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
    weighted = any(e.weights is not None for e in examples)
    weights = torch.zeros((len(examples), width), dtype=torch.float32)
    for k, e in enumerate(examples):
        n = len(e.input_ids)
        ids[k, :n] = torch.tensor(e.input_ids)
        labels[k, :n] = torch.tensor(e.labels)
        mask[k, :n] = 1
        weights[k, :n] = (torch.tensor(e.weights) if e.weights is not None
                          else (labels[k, :n] != IGNORE).float())
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if weighted:
        batch["weights"] = weights
    return batch


def mixture_examples(
    tokenizer: Any, worlds: Sequence[Path], *, annotations: Path | None = None,
    splits: Sequence[str] = ("train",), max_examples: int | None = None,
    max_length: int = 512, decision_weight: float = 1.0,
) -> list[SftExample]:
    """The examples of one or more worlds (shop families) as one training set: each world's
    annotations (`annotations`, one world only, or its `cot_annotations.jsonl`) against its
    own catalog, since item ids may repeat across worlds; `max_examples` is per world.
    Training shuffles, so the order here does not matter."""
    from relstream.core.shop_files import load_catalog

    if annotations is not None and len(worlds) != 1:
        raise TeacherWorkerError("an annotations file belongs to one world: give one world, "
                                 "or none to read each world's cot_annotations.jsonl")
    examples: list[SftExample] = []
    for world in worlds:
        rows = read_annotations(annotations or Path(world) / "cot_annotations.jsonl",
                                splits=tuple(splits))
        if max_examples:
            rows = rows[:max_examples]
        examples += build_examples(tokenizer, rows, load_catalog(world), max_length,
                                   decision_weight)
    return examples
