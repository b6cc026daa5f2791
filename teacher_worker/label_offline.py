"""Offline labelling (`relstream teacher label`): a world's pairs → a teacher-label file.

The students' offline training and `relstream bench mkd` need teacher labels for many
pairs at once; running them through Kafka would only add a broker to a batch job. This
labels the pairs of chosen splits with the same backend and the same `to_label` as the
worker, and appends `TeacherLabel` JSON lines (the teacher-labels topic's format).

Only the query and the item reach the teacher: a world's `labels.jsonl` is read for the
list of pairs, never for their grades; a world without one (contract files of a shop with
no ground truth) gives the pairs its `search_log.jsonl` showed. Splits come from the
world's `splits.json`, or are derived by query hash (`relstream.core.shop_files`). The
world is read, and checked, before the backend loads, so a missing file costs no model
start. The output is appended and flushed per batch, and pairs already in it are
skipped, so a killed run resumes where it stopped (a torn last line from a kill is
dropped on resume). Outputs that do not parse go to `<out>.failures.jsonl` with the
reason and the raw output, and are not retried.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

from relstream.core.schemas import CatalogItem, LabelRequest, TeacherLabel, pair_key, utcnow
from teacher_worker import resume
from teacher_worker.backends.protocol import LabelFailure, TeacherBackend
from teacher_worker.errors import TeacherWorkerError

log = logging.getLogger(__name__)


def parse_split_limits(spec: str) -> dict[str, int]:
    """`"test:400,train:1500,validation"` → {"test": 400, "train": 1500, "validation": 0}.

    0 means every pair of the split.
    """
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, limit = part.partition(":")
        try:
            out[name] = int(limit) if limit else 0
        except ValueError:
            raise TeacherWorkerError(f"bad split limit {part!r}: want NAME or NAME:COUNT") from None
    if not out:
        raise TeacherWorkerError("no splits given")
    return out


def done_pairs(out: Path) -> set[str]:
    """Pair keys already in `out` (labels) and its failures file; drops a torn last line."""
    return resume.done_pairs(out, failures_path(out))


def failures_path(out: Path) -> Path:
    return out.with_name(out.name + ".failures.jsonl")


def world_pairs(world: Path, limits: dict[str, int], seed: int) -> list[tuple[str, str, str]]:
    """(split, query, item_id) for a seeded sample of each split's pairs."""
    from relstream.core.shop_files import check_world, load_pairs, load_splits
    from teacher_worker.evaluate import sample_pairs

    check_world(world, ground_truth=False)
    shown = load_pairs(world)  # the pairs only: no grade is read
    splits = load_splits(world)
    out: list[tuple[str, str, str]] = []
    for split, limit in limits.items():
        if split not in splits:
            raise TeacherWorkerError(f"{world}: no split {split!r} (has {sorted(splits)})")
        out += [(split, q, i) for q, i in sample_pairs(shown, splits[split], limit or None, seed)]
    return out


def _append(path: Path, lines: list[str]) -> None:
    if not lines:  # no empty failures file, no fsync for nothing
        return
    with path.open("a", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def world_job(world: Path, limits: dict[str, int], seed: int = 0
              ) -> tuple[dict[str, CatalogItem], list[tuple[str, str, str]]]:
    """The catalog and the sampled (split, query, item_id) pairs of `world`: everything a
    labelling run reads from the world, read before any model loads."""
    from relstream.core.shop_files import load_catalog

    pairs = world_pairs(world, limits, seed)
    catalog = load_catalog(world)
    missing = [i for _, _, i in pairs if i not in catalog]
    if missing:
        raise TeacherWorkerError(f"{world}: {len(set(missing))} item(s) of the pairs are not "
                                 f"in catalog.jsonl, e.g. {missing[0]!r}")
    return catalog, pairs


def label_world(backend: TeacherBackend, world: Path, out: Path, limits: dict[str, int],
                *, batch: int = 32, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Label the sampled pairs of `world` not yet in `out`; return counts and labels/s."""
    catalog, pairs = world_job(world, limits, seed)
    return label_pairs(backend, catalog, pairs, out, batch=batch, progress=progress)


def label_pairs(backend: TeacherBackend, catalog: dict[str, Any],
                pairs: list[tuple[str, str, str]], out: Path, *, batch: int = 32,
                progress: bool = True) -> dict[str, Any]:
    """Label the (reason, query, item_id) `pairs` not yet in `out` (appended, resumable)."""
    from tqdm import tqdm

    out.parent.mkdir(parents=True, exist_ok=True)
    already = done_pairs(out)
    todo = [p for p in pairs if pair_key(p[1], p[2]) not in already]
    labelled = failed = 0
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), desc="teacher label", unit="pair", disable=not progress)
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        requests = [LabelRequest(ts=utcnow(), event_id=uuid.uuid4().hex, query=q, item_id=i,
                                 item=catalog[i], reasons=[f"offline:{split}"])
                    for split, q, i in chunk]
        results = backend.label(requests)
        good = [r for r in results if isinstance(r, TeacherLabel)]
        bad = [r for r in results if isinstance(r, LabelFailure)]
        _append(out, [label.model_dump_json() for label in good])
        _append(failures_path(out), [json.dumps({
            "query": f.request.query, "item_id": f.request.item_id, "reason": f.reason,
            "raw_output": f.raw_output}) for f in bad])
        labelled += len(good)
        failed += len(bad)
        bar.update(len(chunk))
        bar.set_postfix(failed=failed)
    bar.close()
    seconds = time.perf_counter() - t0
    return {"labelled": labelled, "failed": failed, "skipped_already_done": len(already),
            "seconds": round(seconds, 1),
            "labels_per_s": round((labelled + failed) / seconds, 4) if seconds else 0.0}

