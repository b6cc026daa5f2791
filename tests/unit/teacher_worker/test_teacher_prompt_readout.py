"""Prompt content, marker cutting and the grade read-out, with numbers worked by hand."""

from __future__ import annotations

import math

import pytest

from relstream.core.cot import GRADE_MARKER
from relstream.core.item_text import item_text
from relstream.core.schemas import GRADES, CatalogItem
from teacher_worker.grade_readout import (
    grade_token_ids,
    probs_from_grade_logits,
    probs_from_logprobs,
)
from teacher_worker.prompt import build_plain_prompt, build_prompt, cut_at_marker

ITEM = CatalogItem(item_id="i1", title="Stride Pegasus running shoes", category="Shoes > Running",
                   brand="Stride", attributes={"color": "black", "size": "10"})


def test_grade_tokens_are_four_distinct_single_tokens(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids = grade_token_ids(tokenizer)
    assert len(set(ids)) == 4
    for grade, token_id in zip(GRADES, ids, strict=True):
        assert tokenizer.decode([token_id]) == f" {grade}"
    # "Grade: E" tokenises as ... ":" then " E": the read-out position is right after ":".
    assert tokenizer.encode("Grade: E", add_special_tokens=False)[-1] == ids[0]


def test_softmax_over_grade_logits_by_hand() -> None:
    probs = probs_from_grade_logits([math.log(2), 0.0, 0.0, math.log(4)])
    assert probs == pytest.approx({"E": 0.25, "S": 0.125, "C": 0.125, "I": 0.5})
    big = probs_from_grade_logits([1000.0, 999.0, 0.0, 0.0])  # no overflow
    assert big["E"] == pytest.approx(1 / (1 + math.exp(-1)))


def test_logprobs_readout_strips_spaces_and_floors_missing_grades() -> None:
    probs = probs_from_logprobs({" E": math.log(0.6), "E": math.log(0.1), " S": math.log(0.2),
                                 " the": math.log(0.1)})
    assert sum(probs.values()) == pytest.approx(1.0)
    assert probs["E"] / probs["S"] == pytest.approx(3.0)  # the better " E" wins over "E"
    assert probs["C"] < 1e-10 and probs["I"] < 1e-10


def test_prompt_holds_query_and_item_text_and_no_label(tokenizer) -> None:  # type: ignore[no-untyped-def]
    prompt = build_prompt(tokenizer, "stride shoes", ITEM)
    assert "stride shoes" in prompt and item_text(ITEM) in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert "Grade: E" not in prompt.split("<|im_start|>user")[1]
    assert item_text(ITEM) in build_plain_prompt("stride shoes", ITEM)


def test_cut_at_marker_keeps_text_up_to_the_first_marker_or_forces_it() -> None:
    assert cut_at_marker("Query: a=b\nGrade: E\nGrade: S") == ("Query: a=b\nGrade:", True)
    assert cut_at_marker("rambling on   ") == ("rambling on\n" + GRADE_MARKER, False)
