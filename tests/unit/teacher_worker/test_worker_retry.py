"""The labelling worker keeps a batch while the teacher is unavailable: it tries again
with backoff, one log line per try, and gives up only when it is stopped."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from teacher_worker.errors import TeacherUnavailableError, TeacherWorkerError
from teacher_worker.worker import LabelHandler


class FlakyBackend:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def label(self, requests: list[Any]) -> list[str]:
        self.calls += 1
        if self.calls <= self.failures:
            raise TeacherUnavailableError("connection refused")
        return ["label" for _ in requests]


def _handler(backend: FlakyBackend, stop: threading.Event) -> LabelHandler:
    return LabelHandler(backend, producer=None, cache=None, worker_id="w",  # type: ignore[arg-type]
                        stop=stop, retry_max_s=0.01)


def test_the_batch_is_labelled_once_the_teacher_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = FlakyBackend(failures=2)
    handler = _handler(backend, threading.Event())
    with caplog.at_level(logging.WARNING, logger="teacher_worker.worker"):
        assert handler._label(["a", "b"]) == ["label", "label"]  # type: ignore[list-item]
    assert backend.calls == 3 and handler.retries == 2
    assert [r.getMessage() for r in caplog.records] == [
        "teacher unavailable (try 1), 2 request(s) kept, next try in 0.5 s: connection refused",
        "teacher unavailable (try 2), 2 request(s) kept, next try in 0.0 s: connection refused",
    ]


def test_a_stopped_worker_gives_the_batch_up_uncommitted() -> None:
    stop = threading.Event()
    stop.set()
    handler = _handler(FlakyBackend(failures=99), stop)
    with pytest.raises(TeacherWorkerError, match="stays uncommitted") as raised:
        handler._label(["a"])  # type: ignore[list-item]
    assert isinstance(raised.value.__cause__, TeacherUnavailableError)
    assert handler.retries == 1
