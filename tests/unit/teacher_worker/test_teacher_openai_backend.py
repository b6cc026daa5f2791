"""The `openai` backend's request and response handling, against a canned vLLM-shaped server.

The server is `httpx.MockTransport` answering like vLLM's `/v1/completions` (it is not a
relstream component); a real server is not reachable on these machines.
"""

from __future__ import annotations

import json
import math

import httpx
import pytest

from streams.schemas import CatalogItem
from teacher_worker.annotate import annotation_prompt, self_consistent
from teacher_worker.backends.openai_backend import OpenAIBackend, OpenAIBackendError

ITEM = CatalogItem(item_id="i1", title="Acme red mug", category="Kitchen > Mugs")
COT = "Query: type=mug; color=red\nItem: type=mug; color=red\nChecks: color=match[red]\n"


def _server(seen: list[dict]) -> httpx.Client:  # type: ignore[type-arg]
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        if body["max_tokens"] == 1:  # the grade read-out call
            top = {" E": math.log(0.7), " S": math.log(0.2), " the": math.log(0.1)}
            choices = [{"index": k, "text": " E", "logprobs": {"top_logprobs": [top]}}
                       for k in range(len(body["prompt"]))]
        else:  # generation, stopped at "Grade:" (vLLM drops the stop string)
            choices = [{"index": 0, "text": COT, "finish_reason": "stop",
                        "stop_reason": "Grade:"},
                       {"index": 1, "text": "I think it is fine", "finish_reason": "length",
                        "stop_reason": None}]
        return httpx.Response(200, json={"choices": choices})

    return httpx.Client(base_url="http://teacher/v1", transport=httpx.MockTransport(handle))


def test_two_calls_marker_restored_and_grades_from_logprobs() -> None:
    seen: list[dict] = []  # type: ignore[type-arg]
    backend = OpenAIBackend("http://teacher/v1", "ellm", client=_server(seen))
    first, second = backend.judge([("red mug", ITEM), ("mug", ITEM)])
    assert first.cot == COT + "Grade:" and first.marker_found
    assert second.cot == "I think it is fine\nGrade:" and not second.marker_found
    assert first.grade_probs["E"] / first.grade_probs["S"] == pytest.approx(3.5)
    assert seen[0]["stop"] == ["Grade:"] and seen[1]["logprobs"] == 20
    assert seen[1]["prompt"][0].endswith("Checks: color=match[red]\nGrade:")


def test_wrong_number_of_choices_is_an_error() -> None:
    backend = OpenAIBackend("http://teacher/v1", "ellm", client=_server([]))
    with pytest.raises(OpenAIBackendError, match="expected 3 choices"):
        backend.complete(["a", "b", "c"], max_tokens=5)


def test_self_consistency_needs_k_agreeing_parsed_samples() -> None:
    good = COT + "Grade: E"
    other = COT + "Grade: S"
    assert self_consistent([good, other, good, "junk"], "E", k=2) is not None
    assert self_consistent([good, other, "junk"], "E", k=2) is None
    assert "correct grade is C (complement)" in annotation_prompt("q", ITEM, "C")
