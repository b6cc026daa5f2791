"""The CoT text format renders and parses back to the same steps."""

from __future__ import annotations

import pytest

from relstream.core.cot import CotParseError, clean_value, parse_cot, render_cot
from relstream.core.schemas import CotSteps, DimensionCheck

STEPS = CotSteps(
    query_analysis={"type": "running shoes", "brand": "stride", "color": "black"},
    item_analysis={"type": "running shoes", "brand": "stride", "color": "pink"},
    checks=[
        DimensionCheck(dimension="type", status="match", evidence=["running shoe"]),
        DimensionCheck(dimension="brand", status="match", evidence=["stride"]),
        DimensionCheck(dimension="color", status="mismatch", evidence=["black", "pink"]),
        DimensionCheck(dimension="size", status="not_stated"),
    ],
    grade="S",
)


def test_render_then_parse_is_identity() -> None:
    text = render_cot(STEPS)
    assert text.splitlines()[-1] == "Grade: S"
    assert parse_cot(text) == STEPS


def test_render_without_grade_stops_at_the_marker() -> None:
    text = render_cot(STEPS, with_grade=False)
    assert text.endswith("Grade:")
    assert parse_cot(text).grade is None


def test_separators_inside_values_are_cleaned() -> None:
    assert clean_value("a; b=c [d]\nе") == "a b c d е"


@pytest.mark.parametrize(
    "text",
    ["Grade: E", "Query: type=x\nItem: type=x\nChecks: type=maybe\nGrade: E",
     "Query: type\nItem: none\nChecks: none\nGrade: E"],
)
def test_unreadable_text_raises_with_a_reason(text: str) -> None:
    with pytest.raises(CotParseError):
        parse_cot(text)
