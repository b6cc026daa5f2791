"""CoT data for SFT (`relstream teacher annotate`): label-conditioned, self-consistent.

Following the paper's recipe, a large annotator LLM (through the `openai` backend) is shown
the pair *and its human grade* and asked for the four-step CoT; it is sampled `n` times
per pair, and the pair is kept only when at least `k` samples parse and end in the human
grade (self-consistency). The first agreeing sample, re-rendered with `render_cot`, is
written. For simulated worlds the simulator's ideal CoTs (`cot_annotations.jsonl`) are
taken as they are (`--from-simulator`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from streams.cot import CotParseError, parse_cot, render_cot
from streams.schemas import CatalogItem, CotSteps, Grade
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.prompt import SYSTEM, user_message

log = logging.getLogger(__name__)

GRADE_NAMES = {"E": "exact", "S": "substitute", "C": "complement", "I": "irrelevant"}


def annotation_prompt(query: str, item: CatalogItem, grade: Grade) -> str:
    """The annotator's prompt: the teacher's instructions, the pair, and the known grade."""
    return (f"{SYSTEM}\n\n{user_message(query, item)}\n"
            f"The correct grade is {grade} ({GRADE_NAMES[grade]}). Write the four lines that "
            f"justify it.\n\n")


def self_consistent(samples: list[str], grade: Grade, k: int) -> CotSteps | None:
    """The first parsed sample ending in `grade`, if at least `k` samples do; else None."""
    agreeing: list[CotSteps] = []
    for text in samples:
        try:
            steps = parse_cot(text)
        except CotParseError:
            continue
        if steps.grade == grade:
            agreeing.append(steps)
    return agreeing[0] if len(agreeing) >= k else None


def annotate_pairs(settings: Any, world: Path, out: Path, *, n: int = 5, k: int = 3,
                   split: str = "train", limit: int | None = None, batch: int = 8
                   ) -> dict[str, float]:
    """Annotate a world's labelled pairs of `split` through the configured `openai` server."""
    from streams.simulator.loaders import check_world, load_catalog, load_labels, load_splits
    from teacher_worker.backends.openai_backend import OpenAIBackend
    from teacher_worker.evaluate import sample_pairs

    if not 1 <= k <= n:
        raise TeacherWorkerError(f"k={k}, n={n}: need 1 <= k <= n")
    check_world(world)  # the grades are the annotator's input: labels.jsonl is required
    catalog, labels = load_catalog(world), load_labels(world)
    splits = load_splits(world)
    if split not in splits:
        raise TeacherWorkerError(f"{world}: no split {split!r} (has {sorted(splits)})")
    pairs = sample_pairs(labels, splits[split], limit)
    backend = OpenAIBackend.from_settings(settings)
    kept = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for start in range(0, len(pairs), batch):
            chunk = pairs[start : start + batch]
            prompts = [annotation_prompt(q, catalog[i], labels[(q, i)]) for q, i in chunk]
            choices = backend.complete(prompts, max_tokens=settings.teacher_max_new_tokens + 8,
                                       n=n, temperature=0.7)
            for j, (query, item_id) in enumerate(chunk):
                texts = [c.get("text", "") for c in choices[j * n : (j + 1) * n]]
                steps = self_consistent(texts, labels[(query, item_id)], k)
                if steps is None:
                    continue
                fh.write(json.dumps({"query": query, "item_id": item_id, "grade": steps.grade,
                                     "split": split, "steps": steps.model_dump(),
                                     "cot": render_cot(steps)}) + "\n")
                kept += 1
    log.info("kept %d of %d pairs (>= %d of %d samples agreeing)", kept, len(pairs), k, n)
    return {"pairs": float(len(pairs)), "kept": float(kept),
            "keep_rate": kept / len(pairs) if pairs else 0.0}


def copy_simulator_annotations(world: Path, out: Path) -> int:
    """Take a simulated world's ideal CoTs as SFT data (each line checked by `parse_cot`)."""
    from teacher_worker.sft_data import read_annotations

    rows = read_annotations(Path(world) / "cot_annotations.jsonl", splits=None)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return len(rows)
