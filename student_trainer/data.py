"""Training examples from teacher labels: reading them, joining item text, splitting.

An `Example` is one teacher-judged pair with everything the MKD losses need: the
teacher's grade distribution (its argmax is the hard label; students never see ground
truth), per-dimension check targets, the CoT's deciding words and its analysis texts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from relstream.core.item_text import item_text
from relstream.core.schemas import (
    GRADES,
    CatalogItem,
    CotSteps,
    TeacherInfo,
    TeacherLabel,
    decode_catalog_line,
    decode_event,
    normalize_query,
)
from student_trainer.config import CHECK_CLASSES, DIMENSIONS, IGNORE
from student_trainer.errors import StudentTrainerError

SIMULATOR_COT_MODEL = "simulator-cot"
"""`teacher.model` of labels converted from the simulator's CoT annotations (dev only)."""
_CHECK_RANK = {"mismatch": 2, "not_stated": 1, "match": 0}


class DataError(StudentTrainerError):
    """Training data is missing, unreadable or inconsistent (e.g. an unknown item_id)."""


@dataclass(frozen=True)
class Example:
    """One teacher-labelled pair, ready to be tokenised."""

    query: str
    item_id: str
    item_text: str
    teacher_probs: tuple[float, float, float, float]
    dim_targets: tuple[int, ...]
    evidence: tuple[str, ...]
    query_cot: str
    item_cot: str

    @property
    def hard_label(self) -> int:
        """Index (in `GRADES`) of the teacher's most likely grade."""
        return max(range(len(self.teacher_probs)), key=lambda g: self.teacher_probs[g])


def dimension_index(dimension: str) -> int:
    """Position of a check's dimension in `DIMENSIONS`; unknown names are "other"."""
    key = dimension.strip().lower().replace(" ", "_")
    return DIMENSIONS.index(key) if key in DIMENSIONS else DIMENSIONS.index("other")


def dimension_targets(steps: CotSteps) -> tuple[int, ...]:
    """Class index (match/mismatch/not_stated) per dimension, `IGNORE` where unmentioned.

    Several checks can land on "other": the most damning status wins (mismatch over
    not_stated over match), since any one of them can decide the grade.
    """
    targets = [IGNORE] * len(DIMENSIONS)
    for check in steps.checks:
        d = dimension_index(check.dimension)
        prev = targets[d]
        if prev == IGNORE or _CHECK_RANK[check.status] > _CHECK_RANK[CHECK_CLASSES[prev]]:
            targets[d] = CHECK_CLASSES.index(check.status)
    return tuple(targets)


def analysis_text(values: dict[str, str]) -> str:
    """`{"type": "shoes", "brand": "x"}` → "type: shoes; brand: x" (the CoT's wording)."""
    return "; ".join(f"{k}: {v}" for k, v in values.items() if v) or "none"


def example_from_label(label: TeacherLabel, item: CatalogItem) -> Example:
    steps = label.steps
    evidence = tuple(w for c in steps.checks for w in c.evidence if w.strip())
    probs = [float(label.grade_probs[g]) for g in GRADES]  # GRADES is GRADES, typed
    return Example(
        query=label.query,
        item_id=label.item_id,
        item_text=item_text(item),
        teacher_probs=(probs[0], probs[1], probs[2], probs[3]),
        dim_targets=dimension_targets(steps),
        evidence=evidence,
        query_cot=analysis_text(steps.query_analysis),
        item_cot=analysis_text(steps.item_analysis),
    )


def _jsonl(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    yield n, line
    except FileNotFoundError as exc:
        raise DataError(f"file not found: {path}") from exc


def load_catalog(path: Path) -> dict[str, CatalogItem]:
    """item_id → CatalogItem from a contract catalog.jsonl."""
    return {item.item_id: item for _, line in _jsonl(Path(path))
            for item in [decode_catalog_line(line)]}


def read_teacher_labels(path: Path) -> list[TeacherLabel]:
    """Teacher labels from a JSONL file of `TeacherLabel.model_dump_json()` lines."""
    labels = []
    for n, line in _jsonl(Path(path)):
        try:
            event = decode_event(line)
        except Exception as exc:  # SchemaError: name the line
            raise DataError(f"{path}:{n}: not a teacher label: {exc}") from exc
        if not isinstance(event, TeacherLabel):
            raise DataError(f"{path}:{n}: expected a teacher_label, got {event.type}")
        labels.append(event)
    return labels


def build_examples(
    labels: Iterable[TeacherLabel], catalog: dict[str, CatalogItem]
) -> list[Example]:
    """Join labels with item text; the last label of a duplicated pair wins."""
    by_pair: dict[tuple[str, str], Example] = {}
    for label in labels:
        item = catalog.get(label.item_id)
        if item is None:
            raise DataError(f"teacher label for unknown item_id {label.item_id!r}")
        by_pair[(normalize_query(label.query), label.item_id)] = example_from_label(label, item)
    return list(by_pair.values())


def split_by_queries(
    examples: list[Example], splits: dict[str, list[str]]
) -> dict[str, list[Example]]:
    """Examples per split name (train, validation, ...) by normalised query membership."""
    index = {name: {normalize_query(q) for q in queries} for name, queries in splits.items()}
    return {
        name: [e for e in examples if normalize_query(e.query) in qs]
        for name, qs in index.items()
    }


def truth_probs(grade: str) -> dict[str, float]:
    """A known grade as a grade distribution: 0.94 on it, 0.02 on each other grade (a
    one-hot would give soft losses infinite log-probabilities to fit)."""
    return {g: (0.94 if g == grade else 0.02) for g in GRADES}


def cot_annotations_to_labels(path: Path) -> list[TeacherLabel]:
    """The simulator's ideal CoTs as teacher labels, for development before a teacher exists.

    Probabilities are one-hot-ish (0.94 on the annotated grade, 0.02 elsewhere) and the
    label says `teacher.model = "simulator-cot"`, so nothing mistakes them for the teacher.
    """
    labels = []
    now = datetime.now(UTC)
    for n, line in _jsonl(Path(path)):
        try:
            row = json.loads(line)
            grade = row["grade"]
            probs = truth_probs(grade)
            steps = CotSteps.model_validate(row.get("steps") or {})
            labels.append(TeacherLabel(
                ts=now, event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{row['query']}|{n}").hex,
                query=row["query"], item_id=row["item_id"], grade_probs=probs,  # type: ignore[arg-type]
                steps=steps, raw_cot=row.get("cot", ""),
                teacher=TeacherInfo(model=SIMULATOR_COT_MODEL, version="0"),
            ))
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(f"{path}:{n}: not a CoT annotation: {exc}") from exc
    return labels


def write_labels(labels: Iterable[TeacherLabel], path: Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        for label in labels:
            fh.write(label.model_dump_json() + "\n")
            count += 1
    return count
