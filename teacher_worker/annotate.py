"""CoT data for SFT (`relstream teacher annotate`): label-conditioned, self-consistent.

Following the paper's recipe, a large annotator LLM behind any OpenAI-compatible endpoint
(`annotator_client`) is shown the pair *and its human grade* and asked for the four-step
CoT; it is sampled `n` times per pair, and the pair is kept only when at least `k` samples
parse and end in the human grade (self-consistency). The first agreeing sample,
re-rendered with `render_cot`, is written to `out`; a rejected pair goes to
`<out>.rejected.jsonl` with its reason (`no_parse`: no sample parsed; `disagree`: fewer
than `k` parsed samples ended in the human grade) and the grade of every sample.

Input: a shop's contract files — `catalog.jsonl` and `labels.jsonl` (`query, item_id,
grade`) are enough. Splits come from `splits.json` when present, else from the query hash
of `relstream.core.shop_files` (the rule `teacher eval` and `train` use), so the test
split's queries are never annotated for training. Both files are appended and fsynced per
batch, and a rerun skips the pairs already in either, so a killed run resumes where it
stopped. For simulated worlds the simulator's ideal CoTs (`cot_annotations.jsonl`) are
taken as they are (`--from-simulator`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relstream.core.cot import CotParseError, parse_cot, render_cot
from relstream.core.schemas import CotSteps, Grade, pair_key
from teacher_worker.annotator_client import (
    AnnotatorApi,
    AnnotatorClient,
    Samples,
    annotation_prompt,
)
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.resume import done_pairs

__all__ = ["annotation_prompt", "self_consistent", "verdict", "annotate_pairs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """What self-consistency decided for one pair."""

    steps: CotSteps | None  # the kept annotation, None when rejected
    reason: str | None  # None (kept), "no_parse" or "disagree"
    sample_grades: list[Grade | None]  # per sample: its parsed grade, None if unparsable


def verdict(samples: list[str], grade: Grade, k: int) -> Verdict:
    """Keep the first parsed sample ending in `grade` when at least `k` samples do."""
    agreeing: list[CotSteps] = []
    grades: list[Grade | None] = []
    for text in samples:
        try:
            steps = parse_cot(text)
        except CotParseError:
            grades.append(None)
            continue
        grades.append(steps.grade)
        if steps.grade == grade:
            agreeing.append(steps)
    if len(agreeing) >= k:
        return Verdict(agreeing[0], None, grades)
    return Verdict(None, "no_parse" if all(g is None for g in grades) else "disagree", grades)


def self_consistent(samples: list[str], grade: Grade, k: int) -> CotSteps | None:
    """The first parsed sample ending in `grade`, if at least `k` samples do; else None."""
    return verdict(samples, grade, k).steps


def rejected_path(out: Path) -> Path:
    return out.with_name(out.name + ".rejected.jsonl")


def _done(out: Path) -> set[str]:
    """Pair keys already in `out` or its rejected file (a torn last line is cut)."""
    return done_pairs(out, rejected_path(out))


def _append(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with path.open("a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def shop_splits(world: Path, queries: set[str]) -> dict[str, list[str]]:
    """`splits.json` when the world has one; else `queries` split by query hash.

    `load_splits` derives splits from `search_log.jsonl`, which annotation does not need:
    the labelled queries alone go through the same `split_of_query`, so each query lands
    in the split every other command puts it in.
    """
    from relstream.core.shop_files import find, load_splits, make_query_splits

    if find(world, "splits.json") is not None:
        return load_splits(world)
    return make_query_splits(queries, Counter())


def annotate_pairs(settings: Any, world: Path, out: Path, *, n: int = 5, k: int = 3,
                   split: str = "train", limit: int | None = None, batch: int = 32,
                   api: AnnotatorApi = "chat", url: str | None = None, model: str | None = None,
                   max_tokens: int = 256, temperature: float = 0.7, seed: int = 0,
                   progress: bool = True) -> dict[str, Any]:
    """Annotate a seeded sample of `split`'s labelled pairs through the annotator server
    (`url`/`model`, default the `teacher_openai_*` settings); resumable. Returns counts."""
    from tqdm import tqdm

    from relstream.core.shop_files import load_catalog, load_labels, world_file
    from teacher_worker.evaluate import sample_pairs

    if not 1 <= k <= n:
        raise TeacherWorkerError(f"k={k}, n={n}: need 1 <= k <= n")
    if not Path(world).is_dir():
        raise TeacherWorkerError(f"{world} is not a directory: want a shop's data dir with "
                                 "catalog.jsonl and labels.jsonl")
    # The files first: a missing one must not cost a call to the annotator.
    world_file(world, "catalog.jsonl", "the items")
    world_file(world, "labels.jsonl", "the human grades (query, item_id, grade) the "
               "annotations are conditioned on")
    catalog, labels = load_catalog(world), load_labels(world)
    splits = shop_splits(world, {q for q, _ in labels})
    if split not in splits:
        raise TeacherWorkerError(f"{world}: no split {split!r} (has {sorted(splits)})")
    pairs = sample_pairs(labels, splits[split], limit, seed)
    missing = sorted({i for _, i in pairs if i not in catalog})
    if missing:
        raise TeacherWorkerError(f"{world}: {len(missing)} labelled item(s) are not in "
                                 f"catalog.jsonl, e.g. {missing[0]!r}")
    client = AnnotatorClient(url or settings.teacher_openai_url,
                             model or settings.teacher_openai_model, api=api,
                             api_key=settings.teacher_openai_api_key.get_secret_value(),
                             timeout_s=settings.teacher_openai_timeout_s, max_tokens=max_tokens,
                             temperature=temperature,
                             connections=settings.teacher_openai_concurrency)
    client.check()
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _done(out)
    todo = [p for p in pairs if pair_key(*p) not in done]
    counts: Counter[str] = Counter()
    tokens = 0
    t0 = time.perf_counter()

    def one(pair: tuple[str, str]) -> Samples:
        return client.sample(pair[0], catalog[pair[1]], labels[pair], n)

    bar = tqdm(total=len(todo), desc="teacher annotate", unit="pair", disable=not progress)
    # One call per pair (n samples each), `teacher_openai_concurrency` in flight, so the
    # server batches many pairs' samples together.
    with ThreadPoolExecutor(settings.teacher_openai_concurrency) as pool:
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            kept, rejected = [], []
            for (query, item_id), samples in zip(chunk, pool.map(one, chunk), strict=True):
                grade = labels[(query, item_id)]
                tokens += samples.completion_tokens
                v = verdict(samples.texts, grade, k)
                row = {"query": query, "item_id": item_id, "grade": grade, "split": split}
                if v.steps is not None:
                    kept.append({**row, "steps": v.steps.model_dump(),
                                 "cot": render_cot(v.steps), "sample_grades": v.sample_grades})
                    counts["kept"] += 1
                else:
                    rejected.append({**row, "reason": v.reason, "sample_grades": v.sample_grades})
                    counts[f"rejected_{v.reason}"] += 1
            _append(out, kept)
            _append(rejected_path(out), rejected)
            bar.update(len(chunk))
            bar.set_postfix(kept=counts["kept"])
    bar.close()
    handled = len(todo)
    log.info("kept %d of %d pairs (>= %d of %d samples agreeing)", counts["kept"], handled, k, n)
    seconds = time.perf_counter() - t0
    return {"pairs": len(pairs), "skipped_already_done": len(pairs) - handled,
            "annotated": handled, "kept": counts["kept"],
            "rejected_disagree": counts["rejected_disagree"],
            "rejected_no_parse": counts["rejected_no_parse"],
            "keep_rate": round(counts["kept"] / handled, 4) if handled else 0.0,
            "samples": handled * n, "completion_tokens": tokens,
            "seconds": round(seconds, 1), "out": str(out), "rejected": str(rejected_path(out))}


def copy_simulator_annotations(world: Path, out: Path) -> int:
    """Take a simulated world's ideal CoTs as SFT data (each line checked by `parse_cot`)."""
    from teacher_worker.sft_data import read_annotations

    rows = read_annotations(Path(world) / "cot_annotations.jsonl", splits=None)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return len(rows)
