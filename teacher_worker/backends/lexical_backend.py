"""The `lexical` backend: a rule-based baseline teacher (word overlap), not an LLM.

A baseline to compare the LLM teacher with, and an instant teacher for tests of the
learning loop (tiny random LLMs label noise). `relstream teacher run --backend lexical`
runs it inside the real labelling worker. It reads only the query and the item's text
(never ground truth): the product type must match the item's category leaf, and the
grade follows the share of query words the item's text covers. It writes its reasoning in
the CoT format, so every label goes through `parse_cot` like an LLM's, and every label
says `lexical-stand-in` in `teacher.model`, so its labels are never taken for the LLM's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from relstream.core.cot import render_cot, word_matches
from relstream.core.schemas import CatalogItem, CotSteps, DimensionCheck, Grade, TeacherInfo
from teacher_worker.backends.protocol import BackendBase, Judgement

if TYPE_CHECKING:
    from teacher_worker.settings import TeacherSettings

MODEL_NAME = "lexical-stand-in"
_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"for", "with", "and", "the", "a", "of", "in", "size", "s", "men", "women", "mens",
         "womens", "kids", "unisex"}


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def judge_pair(query: str, item: CatalogItem) -> tuple[CotSteps, dict[Grade, float]]:
    """The stand-in's reasoning and grade distribution for one pair."""
    q_words = _words(query) or _WORD.findall(query.lower())
    leaf = item.category.split(">")[-1].strip()
    leaf_words = set(_words(leaf)) | set(_words(item.title))
    item_words = set(_words(" ".join([item.title, item.category, item.brand or "",
                                      *item.attributes.values()])))
    type_words = [w for w in q_words if word_matches(w, set(_words(leaf)))]
    type_ok = bool(type_words) or any(word_matches(w, leaf_words) for w in q_words[-1:])
    covered = [w for w in q_words if word_matches(w, item_words)]
    missing = [w for w in q_words if w not in covered]
    cov = len(covered) / len(q_words) if q_words else 0.0
    checks = [DimensionCheck(dimension="type", status="match" if type_ok else "mismatch",
                             evidence=type_words or [leaf])]
    brand = (item.brand or "").lower()
    if brand and brand in query.lower():
        checks.append(DimensionCheck(dimension="brand", status="match", evidence=[brand]))
    for key, value in sorted(item.attributes.items()):
        hits = [w for w in _words(value) if w in q_words]
        if hits:
            checks.append(DimensionCheck(dimension=key, status="match", evidence=hits))
    if missing:
        checks.append(DimensionCheck(dimension="other", status="mismatch", evidence=missing))
    t = 1.0 if type_ok else 0.0
    raw = {"E": t * cov**2, "S": t * (1 - cov**2), "C": (1 - t) * cov, "I": (1 - t) * (1 - cov)}
    probs: dict[Grade, float] = {g: 0.96 * p + 0.01 for g, p in raw.items()}  # type: ignore[misc]
    steps = CotSteps(query_analysis={"type": " ".join(type_words) or "unknown",
                                     "words": " ".join(q_words)},
                     item_analysis={"type": leaf, "brand": item.brand or ""}, checks=checks)
    return steps, probs


class LexicalTeacher(BackendBase):
    """`TeacherBackend` over `judge_pair`; instant, deterministic, CPU only."""

    def __init__(self, version: str = "0") -> None:
        self.info = TeacherInfo(model=MODEL_NAME, version=version)

    @classmethod
    def from_settings(cls, settings: TeacherSettings) -> LexicalTeacher:
        return cls(version=settings.teacher_model_version)

    def judge(self, pairs: Sequence[tuple[str, CatalogItem]]) -> list[Judgement]:
        out = []
        for query, item in pairs:
            steps, probs = judge_pair(query, item)
            out.append(Judgement(cot=render_cot(steps, with_grade=False), grade_probs=probs,
                                 marker_found=True, new_tokens=0))
        return out

    def health(self) -> dict[str, Any]:
        return {"ok": True, "backend": MODEL_NAME}
