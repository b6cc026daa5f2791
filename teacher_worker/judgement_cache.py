"""Raw teacher judgements of evaluation pairs, kept in a JSONL file per (model, world, split).

Calibration is fitted on, and the per-family evaluation reads, the teacher's *raw* grade
distributions; labelling them is the slow part (~2 pairs/s on these CPUs), so each pair is
labelled once and appended here. A rerun labels only the pairs the file lacks, and a torn
last line (a killed run) is dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relstream.core.schemas import CatalogItem
from teacher_worker.errors import TeacherWorkerError


@dataclass(frozen=True)
class CachedJudgement:
    """What the evaluation needs of one judgement: the raw grade distribution and whether
    the CoT parsed and reached `Grade:` unforced."""

    grade_probs: dict[str, float]
    parsed: bool
    marker_found: bool


def read_cache(path: Path) -> dict[tuple[str, str], CachedJudgement]:
    """The judgements in `path` keyed by (query, item_id); a torn last line is skipped."""
    out: dict[tuple[str, str], CachedJudgement] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a run killed mid-write; the pair is labelled again
        out[(row["query"], row["item_id"])] = CachedJudgement(
            {str(g): float(p) for g, p in row["grade_probs"].items()},
            bool(row["parsed"]), bool(row["marker_found"]))
    return out


def cached_judgements(
    backend: Any, pairs: Sequence[tuple[str, str]], catalog: dict[str, CatalogItem],
    path: Path, *, batch: int = 256,
) -> tuple[list[CachedJudgement], dict[str, float]]:
    """Raw judgements of `pairs` in order, labelling with `backend` only those not in `path`.

    Stats: `labelled` (pairs sent to the teacher in this run), `seconds`, `labels_per_s`,
    `parse_rate` and `marker_rate` over all `pairs`.
    """
    from relstream.core.cot import CotParseError, parse_cot

    path.parent.mkdir(parents=True, exist_ok=True)
    cache = read_cache(path)
    todo = [p for p in dict.fromkeys(pairs) if p not in cache]
    missing = [i for _, i in todo if i not in catalog]
    if missing:
        raise TeacherWorkerError(f"{len(missing)} pair(s) name items not in the catalog, "
                                 f"e.g. {missing[0]!r}")
    t0 = time.perf_counter()
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        judgements = backend.judge([(q, catalog[i]) for q, i in chunk])
        lines = []
        for (query, item_id), j in zip(chunk, judgements, strict=True):
            try:
                parse_cot(j.cot)
                parsed = True
            except CotParseError:
                parsed = False
            cache[(query, item_id)] = CachedJudgement(dict(j.grade_probs), parsed, j.marker_found)
            lines.append(json.dumps({"query": query, "item_id": item_id,
                                     "grade_probs": j.grade_probs, "parsed": parsed,
                                     "marker_found": j.marker_found}) + "\n")
        with path.open("a", encoding="utf-8") as fh:
            fh.writelines(lines)
        print(f"  {path.name}: {start + len(chunk)}/{len(todo)} labelled "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    seconds = time.perf_counter() - t0
    rows = [cache[p] for p in pairs]
    n = max(1, len(rows))
    return rows, {"labelled": float(len(todo)), "seconds": seconds,
                  "labels_per_s": len(todo) / seconds if todo and seconds else 0.0,
                  "parse_rate": sum(r.parsed for r in rows) / n,
                  "marker_rate": sum(r.marker_found for r in rows) / n}
