"""Ideal chains of thought for teacher training, written from the simulator's knowledge.

This stands in for the paper's large annotator LLM: for a labelled pair it states the
query's type and constraints, the item's values on the same dimensions, one check per
constrained dimension naming the deciding words as they appear in the query and item
text, and the grade. The teacher must never see these at inference time.
"""

from __future__ import annotations

from typing import Any

from relstream.core.cot import render_cot
from relstream.core.schemas import CotSteps, DimensionCheck
from relstream.tools.simulator.catalog import SimItem
from relstream.tools.simulator.ground_truth import Judgement
from relstream.tools.simulator.queries import SimQuery

_NOT_STATED = "not stated"


def _item_value(dim: str, wanted: str, item: SimItem) -> str:
    if dim == "type":
        return item.type.noun
    if dim == "brand":
        return item.brand.lower()
    if dim == "model":
        return item.model.key
    if dim == "feature":
        return wanted if wanted in item.features else ", ".join(item.features) or _NOT_STATED
    if dim == "compatibility" and item.ptype in item.taxonomy.device_types:
        return item.model.device_key  # a device "is compatible with" itself
    return item.values.get(dim, _NOT_STATED)


def _item_words(dim: str, wanted: str, item: SimItem) -> str | None:
    if dim == "feature":
        return item.surface.get(f"feature:{wanted}")
    if dim == "compatibility" and "compatibility" not in item.surface:
        return item.surface.get("model")  # a device: its model is what an accessory fits
    return item.surface.get(dim)


def _query_words(dim: str, wanted: str, query: SimQuery) -> str | None:
    if dim == "feature":
        return query.surface.get(f"feature:{wanted}")
    if dim == "compatibility" and "compatibility" not in query.surface:
        # a device query: the device it names is its model (or brand)
        named = [query.surface[d] for d in ("brand", "model") if d in query.surface]
        return " ".join(named) or None
    return query.surface.get(dim)


def cot_steps(query: SimQuery, item: SimItem, judgement: Judgement) -> CotSteps:
    """The ideal `CotSteps` for one judged pair."""
    intent = query.intent
    q_analysis: dict[str, str] = {"type": query.taxonomy.by_key[intent.ptype].noun}
    i_analysis: dict[str, str] = {"type": item.type.noun}
    for dim, value in intent.constraints:
        if dim == "feature":
            q_analysis["feature"] = ", ".join(intent.values("feature"))
            i_analysis["feature"] = ", ".join(item.features) or _NOT_STATED
        else:
            q_analysis[dim] = value
            i_analysis[dim] = _item_value(dim, value, item)
    type_ok = judgement.relation == "same_type"
    checks = [DimensionCheck(
        dimension="type", status="match" if type_ok else "mismatch",
        evidence=[w for w in (query.surface.get("type"), item.surface.get("type")) if w])]
    for c in judgement.checks:
        if c.dimension == "type":
            continue
        words = [_query_words(c.dimension, c.wanted, query)]
        if c.status != "not_stated":
            words.append(_item_words(c.dimension, c.wanted, item))
        checks.append(DimensionCheck(dimension=c.dimension, status=c.status,  # type: ignore[arg-type]
                                     evidence=[w for w in words if w]))
    return CotSteps(query_analysis=q_analysis, item_analysis=i_analysis, checks=checks,
                    grade=judgement.grade)


def cot_line(query: SimQuery, item: SimItem, judgement: Judgement, split: str) -> dict[str, Any]:
    """One `cot_annotations.jsonl` line (fixed key order)."""
    steps = cot_steps(query, item, judgement)
    return {"query": query.text, "item_id": item.item_id, "grade": judgement.grade,
            "split": split, "steps": steps.model_dump(mode="json"), "cot": render_cot(steps)}
