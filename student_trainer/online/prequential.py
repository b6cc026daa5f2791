"""Prequential (test-then-train) evaluation: every label scores the current model first.

Each incoming teacher label is scored by the model as it is before training on it; the
target is the teacher's own grade (E vs rest for AUC, the argmax grade for accuracy), so
the curve needs no ground truth. When a simulated world is given, the evaluator also
looks up the pair's ground-truth grade and whether its query belongs to a launched brand,
for drift reports; the trainer never sees those (river's `progressive_val_score` idea).
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from relstream.core.schemas import GRADES, normalize_query
from student_trainer.evaluate import binary_auc


@dataclass(frozen=True)
class PrequentialPoint:
    """One label scored before training on it."""

    seq: int
    stream_ts: datetime
    query: str
    item_id: str
    score: float
    predicted: str
    teacher_grade: str
    truth_grade: str | None = None
    new_brand: bool = False
    model_step: int = 0

    @property
    def correct(self) -> bool:
        return self.predicted == self.teacher_grade


@dataclass
class GroundTruth:
    """Ground truth of a simulated world, for evaluation only."""

    grades: Mapping[tuple[str, str], str]
    new_brand_queries: set[str] = field(default_factory=set)
    change_at: datetime | None = None

    @classmethod
    def from_world(cls, world_dir: Path) -> GroundTruth:
        from relstream.core.shop_files import load_labels, load_scenario

        grades = {(normalize_query(q), i): g for (q, i), g in load_labels(world_dir).items()}
        scenario = load_scenario(world_dir)
        change = scenario.get("change_at")
        return cls(grades, {normalize_query(q) for q in scenario.get("new_brand_queries") or []},
                   datetime.fromisoformat(change.replace("Z", "+00:00")) if change else None)

    def grade(self, query: str, item_id: str) -> str | None:
        return self.grades.get((normalize_query(query), item_id))

    def is_new_brand(self, query: str) -> bool:
        return normalize_query(query) in self.new_brand_queries


class Prequential:
    """Keeps a sliding window of points and summarises it (AUC and accuracy vs teacher)."""

    def __init__(self, window: int = 500, truth: GroundTruth | None = None) -> None:
        self.window: deque[PrequentialPoint] = deque(maxlen=window)
        self.truth = truth
        self.count = 0

    def make_point(self, seq: int, stream_ts: datetime, query: str, item_id: str,
                   probs: Sequence[float], score: float, teacher_grade: str,
                   model_step: int) -> PrequentialPoint:
        predicted = GRADES[max(range(len(probs)), key=lambda g: probs[g])]
        truth = self.truth.grade(query, item_id) if self.truth else None
        new_brand = bool(self.truth and self.truth.is_new_brand(query))
        return PrequentialPoint(seq, stream_ts, query, item_id, float(score), predicted,
                                teacher_grade, truth, new_brand, model_step)

    def record(self, points: Iterable[PrequentialPoint]) -> None:
        for p in points:
            self.window.append(p)
            self.count += 1

    def summary(self) -> dict[str, float]:
        """Window AUC and accuracy against the teacher (and AUC vs ground truth if known)."""
        pts = list(self.window)
        out = summarise(pts)
        out["labels_scored"] = float(self.count)
        return out


def summarise(points: Sequence[PrequentialPoint]) -> dict[str, float]:
    """AUC (E vs rest) and accuracy against the teacher; AUC against ground truth."""
    if not points:
        return {"auc": math.nan, "acc": math.nan, "truth_auc": math.nan, "n": 0.0}
    judged = [p for p in points if p.truth_grade is not None]
    return {
        "auc": binary_auc([p.score for p in points], [p.teacher_grade for p in points]),
        "acc": sum(p.correct for p in points) / len(points),
        "truth_auc": binary_auc([p.score for p in judged], [p.truth_grade or "I" for p in judged])
        if judged else math.nan,
        "n": float(len(points)),
    }


def curve(points: Sequence[PrequentialPoint], buckets: int = 10, *, target: str = "truth",
          new_brand_only: bool = False) -> list[dict[str, Any]]:
    """AUC per stream-time bucket: `[{"start", "end", "auc", "n"}]`, buckets of equal count.

    `target="truth"` uses ground truth (points without it are left out), "teacher" the
    teacher's grade. Equal-count buckets keep the AUC's noise comparable across buckets.
    """
    pts = sorted((p for p in points if not new_brand_only or p.new_brand),
                 key=lambda p: (p.stream_ts, p.seq))
    if target == "truth":
        pts = [p for p in pts if p.truth_grade is not None]
    if not pts:
        return []
    size = max(1, math.ceil(len(pts) / buckets))
    rows = []
    for i in range(0, len(pts), size):
        chunk = pts[i:i + size]
        grades = [(p.truth_grade if target == "truth" else p.teacher_grade) or "I" for p in chunk]
        rows.append({"start": chunk[0].stream_ts, "end": chunk[-1].stream_ts,
                     "auc": binary_auc([p.score for p in chunk], grades), "n": len(chunk)})
    return rows


def write_points_jsonl(points: Iterable[PrequentialPoint], path: Path) -> int:
    """Append points to a JSONL file (the plot and the tests read it back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "a", encoding="utf-8") as fh:
        for p in points:
            row = {**p.__dict__, "stream_ts": p.stream_ts.isoformat()}
            fh.write(json.dumps(row) + "\n")
            n += 1
    return n


def read_points_jsonl(path: Path) -> list[PrequentialPoint]:
    """Points of a JSONL file, one per `seq`: labels re-scored after a restart (those after
    the last checkpoint) appear twice in the file, and the later row wins."""
    by_seq: dict[int, PrequentialPoint] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                row["stream_ts"] = datetime.fromisoformat(row["stream_ts"])
                point = PrequentialPoint(**row)
                by_seq[point.seq] = point
    return [by_seq[k] for k in sorted(by_seq)]
