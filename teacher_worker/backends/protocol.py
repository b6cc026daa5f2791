"""The `TeacherBackend` protocol and the shared step from raw model output to labels.

A backend only has to `judge` pairs: generate the CoT up to `Grade:` and read the grade
distribution there. `BackendBase.label` turns judgements into `TeacherLabel`s, or into
`LabelFailure`s (with the raw output) when the CoT cannot be parsed, so the worker can
dead-letter them and go on. A backend's `calibration` (the model's `calibration.json`, set
by `load_backend`) is applied there, so every label carries calibrated probabilities while
`judge` keeps returning the raw read-out (what calibration is fitted on).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from relstream.core.cot import CotParseError, parse_cot
from relstream.core.schemas import (
    CatalogItem,
    Grade,
    LabelRequest,
    TeacherInfo,
    TeacherLabel,
    utcnow,
)

if TYPE_CHECKING:
    from teacher_worker.calibration import Calibration


@dataclass(frozen=True)
class Judgement:
    """Raw backend output for one pair.

    `cot` is the generated text up to and including `Grade:`; `marker_found` is False when
    the marker had to be forced (model rambled or ran out of tokens); `new_tokens` counts
    generated tokens (for tokens/s).
    """

    cot: str
    grade_probs: dict[Grade, float]
    marker_found: bool
    new_tokens: int


@dataclass(frozen=True)
class LabelFailure:
    """A request the teacher could not label, with the reason and the raw model output."""

    request: LabelRequest
    reason: str
    raw_output: str = ""


@runtime_checkable
class TeacherBackend(Protocol):
    """What the worker, the evaluator and the benchmark need from a teacher."""

    info: TeacherInfo

    def judge(self, pairs: Sequence[tuple[str, CatalogItem]]) -> list[Judgement]:
        """Judge (query, item) pairs in one batch; one `Judgement` per pair, in order."""
        ...

    def label(self, batch: Sequence[LabelRequest]) -> list[TeacherLabel | LabelFailure]:
        """Label requests; one result per request, in order. Never raises for one pair."""
        ...

    def health(self) -> dict[str, Any]:
        """A small dict saying whether the backend can serve (`ok`) and what it runs."""
        ...


LABEL_ID_NAMESPACE = uuid.UUID("6f1c3a52-9b1e-4f0a-8d7e-2a41c0e5b7d3")


def label_event_id(request: LabelRequest, info: TeacherInfo) -> str:
    """The label's event id, derived from its request's id and the teacher's identity.

    A worker killed after producing but before committing labels the batch again; the
    labels then carry the same ids, so the trainer can drop the repeats.
    """
    name = f"{request.event_id}|{info.model}|{info.version}"
    return uuid.uuid5(LABEL_ID_NAMESPACE, name).hex


def to_label(request: LabelRequest, judgement: Judgement, info: TeacherInfo,
             calibration: Calibration | None = None) -> TeacherLabel | LabelFailure:
    """One judgement → a label, or a failure naming the parse error (raw output kept).

    With a `calibration`, the label's `grade_probs` are the calibrated read-out.
    """
    try:
        steps = parse_cot(judgement.cot)
    except CotParseError as exc:
        return LabelFailure(request, f"unparsable teacher output: {exc}", judgement.cot)
    return TeacherLabel(
        ts=utcnow(),
        event_id=label_event_id(request, info),
        query=request.query,
        item_id=request.item_id,
        grade_probs=(calibration.apply(judgement.grade_probs) if calibration is not None
                     else judgement.grade_probs),
        steps=steps,
        raw_cot=judgement.cot,
        teacher=info,
        request_event_id=request.event_id,
    )


class BackendBase:
    """`label` implemented on top of `judge`, for every backend.

    `tokens_generated` counts every generated token so far (the worker's tokens/s);
    `calibration`, when set, is applied to every label's grade distribution.
    """

    info: TeacherInfo
    tokens_generated: int = 0
    calibration: Calibration | None = None

    def judge(self, pairs: Sequence[tuple[str, CatalogItem]]) -> list[Judgement]:
        raise NotImplementedError

    def label(self, batch: Sequence[LabelRequest]) -> list[TeacherLabel | LabelFailure]:
        results: list[TeacherLabel | LabelFailure | None] = [None] * len(batch)
        todo: list[int] = []
        for i, request in enumerate(batch):
            if request.item is None:
                results[i] = LabelFailure(
                    request, f"label request {request.event_id} has no item and the "
                    f"catalog does not know item_id {request.item_id!r}")
            else:
                todo.append(i)
        if todo:
            judgements = self.judge([(batch[i].query, batch[i].item) for i in todo])  # type: ignore[misc]
            self.tokens_generated += sum(j.new_tokens for j in judgements)
            for i, judgement in zip(todo, judgements, strict=True):
                results[i] = to_label(batch[i], judgement, self.info, self.calibration)
        return [r for r in results if r is not None]
