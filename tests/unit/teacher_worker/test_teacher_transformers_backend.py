"""The batched transformers backend on tiny models: shapes, read-out paths, labels."""

from __future__ import annotations

import pytest

from relstream.core.schemas import CatalogItem, LabelRequest, TeacherLabel, utcnow
from teacher_worker.backends import TeacherBackend
from teacher_worker.backends.protocol import Judgement, LabelFailure, to_label
from teacher_worker.backends.transformers_backend import TransformersBackend

ITEMS = [
    CatalogItem(item_id="i1", title="Stride Pegasus running shoes", category="Shoes > Running",
                brand="Stride", attributes={"color": "black"}),
    CatalogItem(item_id="i2", title="Acme phone case", category="Electronics > Cases"),
    CatalogItem(item_id="i3", title="Steel water bottle 1 l", category="Kitchen > Bottles",
                attributes={"capacity": "1 l", "material": "steel"}),
]
PAIRS = [("stride black running shoes", ITEMS[0]), ("iphone case", ITEMS[1]), ("bottle", ITEMS[2])]


def _request(k: int, item: CatalogItem | None) -> LabelRequest:
    return LabelRequest(ts=utcnow(), event_id=f"e{k}", query=f"query {k}",
                        item_id=item.item_id if item else "missing", item=item)


@pytest.fixture(scope="module")
def backend(tiny_format_dir) -> TransformersBackend:  # type: ignore[no-untyped-def]
    return TransformersBackend(tiny_format_dir, device="cpu", max_new_tokens=24, gen_batch=2)


def test_backend_meets_the_protocol(backend: TransformersBackend) -> None:
    assert isinstance(backend, TeacherBackend)
    assert backend.health()["ok"] is True


def test_judge_reads_a_distribution_at_the_marker(backend: TransformersBackend) -> None:
    judgements = backend.judge(PAIRS)
    assert len(judgements) == 3
    for j in judgements:
        assert set(j.grade_probs) == {"E", "S", "C", "I"}
        assert sum(j.grade_probs.values()) == pytest.approx(1.0)
        assert j.cot.endswith("Grade:") and j.new_tokens > 0


def test_free_logits_match_an_explicit_forward_pass(backend: TransformersBackend) -> None:
    """Read-out from generate's next step == one forward pass over prompt + CoT."""
    from teacher_worker.prompt import build_prompt

    prompts = [build_prompt(backend.tokenizer, q, item) for q, item in PAIRS]
    judgements = backend.judge_prompts(prompts)
    forward = backend._grade_forward([p + j.cot for p, j in zip(prompts, judgements,
                                                                strict=True)])
    for j, f in zip(judgements, forward, strict=True):
        assert j.grade_probs == pytest.approx(f, abs=2e-3)


def test_same_input_same_output_and_batch_not_mutated(backend: TransformersBackend) -> None:
    pairs = list(PAIRS)
    first = backend.judge(pairs)
    assert pairs == PAIRS
    second = backend.judge(pairs)
    for a, b in zip(first, second, strict=True):
        assert a.cot == b.cot
        assert a.grade_probs == pytest.approx(b.grade_probs, abs=1e-6)


def test_label_gives_labels_and_failures_in_request_order(backend: TransformersBackend) -> None:
    results = backend.label([_request(0, ITEMS[0]), _request(1, None), _request(2, ITEMS[2])])
    assert isinstance(results[0], TeacherLabel) and isinstance(results[2], TeacherLabel)
    assert isinstance(results[1], LabelFailure) and "no item" in results[1].reason
    assert results[0].request_event_id == "e0" and results[0].raw_cot.endswith("Grade:")


def test_random_model_output_is_a_failure_with_raw_output(tiny_dir) -> None:  # type: ignore[no-untyped-def]
    random_backend = TransformersBackend(tiny_dir, device="cpu", max_new_tokens=6)
    (result,) = random_backend.label([_request(0, ITEMS[0])])
    assert isinstance(result, LabelFailure)
    assert "unparsable" in result.reason and result.raw_output.endswith("Grade:")


def test_to_label_parses_steps() -> None:
    cot = ("Query: type=shoes; color=black\nItem: type=shoes; color=red\n"
           "Checks: type=match[shoes]; color=mismatch[black, red]\nGrade:")
    probs = {"E": 0.1, "S": 0.7, "C": 0.1, "I": 0.1}
    label = to_label(_request(0, ITEMS[0]), Judgement(cot, probs, True, 20),  # type: ignore[arg-type]
                     backend_info())
    assert isinstance(label, TeacherLabel)
    assert label.grade == "S" and label.steps.checks[1].status == "mismatch"
    assert label.steps.checks[1].evidence == ["black", "red"]


def backend_info():  # type: ignore[no-untyped-def]
    from relstream.core.schemas import TeacherInfo

    return TeacherInfo(model="test")
