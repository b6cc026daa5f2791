"""`relstream.core.retry`: waits, limits, stop and log lines, with a fake clock and sleep
(no test here waits for real)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from itertools import islice

import pytest

from relstream.core.retry import Attempt, Backoff, NotYet, RetryStopped, retry


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def failing(times: int, error: BaseException, result: str = "done") -> Callable[[], str]:
    """A function that raises `error` for its first `times` calls, then returns."""
    calls = iter(range(times + 1))

    def fn() -> str:
        if next(calls) < times:
            raise error
        return result

    return fn


@pytest.fixture
def fake() -> Iterator[FakeTime]:
    yield FakeTime()


def test_backoff_doubles_up_to_the_cap_and_a_factor_of_one_is_a_fixed_interval() -> None:
    assert list(islice(Backoff(1.0, 2.0, 30.0).waits(), 7)) == [1, 2, 4, 8, 16, 30, 30]
    assert list(islice(Backoff(0.5, 1.0, 0.5).waits(), 3)) == [0.5, 0.5, 0.5]
    assert list(islice(Backoff(0.5, 2.0, 2.0).waits(), 4)) == [0.5, 1.0, 2.0, 2.0]


def test_the_result_comes_back_after_the_failed_tries(fake: FakeTime) -> None:
    fn = failing(4, ConnectionError("refused"))
    assert retry(fn, retry_on=ConnectionError, sleep=fake.sleep, clock=fake.clock) == "done"
    assert fake.slept == [1.0, 2.0, 4.0, 8.0]  # the default: 1 s, doubling


def test_a_first_success_does_not_wait(fake: FakeTime) -> None:
    assert retry(lambda: 7, retry_on=ValueError, sleep=fake.sleep, clock=fake.clock) == 7
    assert fake.slept == []


def test_other_errors_are_not_retried(fake: FakeTime) -> None:
    with pytest.raises(KeyError):
        retry(failing(1, KeyError("x")), retry_on=ValueError, sleep=fake.sleep,
              clock=fake.clock)
    assert fake.slept == []


def test_after_the_last_try_the_error_itself_is_raised(fake: FakeTime) -> None:
    error = ConnectionError("still refused")
    with pytest.raises(ConnectionError) as raised:
        retry(failing(99, error), retry_on=(ValueError, ConnectionError), tries=3,
              backoff=Backoff(0.5, 1.0, 0.5), sleep=fake.sleep, clock=fake.clock)
    assert raised.value is error
    assert fake.slept == [0.5, 0.5]  # no wait after the last try


def test_the_deadline_is_checked_after_each_failed_try(fake: FakeTime) -> None:
    tried: list[float] = []

    def fn() -> None:
        tried.append(fake.now - 100.0)
        raise NotYet("not yet")

    with pytest.raises(NotYet):
        retry(fn, retry_on=NotYet, backoff=Backoff(0.25, 1.0, 0.25), deadline_s=1.0,
              sleep=fake.sleep, clock=fake.clock)
    # Tries at 0, 0.25, ..., 1.0 (not past it yet) and 1.25, the first past it; no more.
    assert tried == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]


def test_on_retry_sees_every_failed_try_and_replaces_the_default_line(
    fake: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Attempt] = []
    with caplog.at_level(logging.DEBUG, logger="relstream.core.retry"):
        retry(failing(3, OSError("down")), retry_on=OSError, on_retry=seen.append,
              backoff=Backoff(0.5, 2.0, 1.5), sleep=fake.sleep, clock=fake.clock)
    assert [(a.number, a.wait_s, a.elapsed_s) for a in seen] == [
        (1, 0.5, 0.0), (2, 1.0, 0.5), (3, 1.5, 1.5)]
    assert all(str(a.error) == "down" for a in seen)
    assert not caplog.records


def test_without_on_retry_one_line_per_failed_try(fake: FakeTime,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="relstream.core.retry"):
        retry(failing(2, NotYet("no partitions")), retry_on=NotYet, what="listing topics",
              log_level=logging.INFO, sleep=fake.sleep, clock=fake.clock)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "listing topics failed (NotYet: no partitions); try 1, next in 1.0 s"),
        (logging.INFO, "listing topics failed (NotYet: no partitions); try 2, next in 2.0 s"),
    ]


def test_a_set_stop_event_ends_the_wait_with_retry_stopped() -> None:
    stop = threading.Event()
    stop.set()
    error = ConnectionError("refused")
    with pytest.raises(RetryStopped) as raised:
        retry(failing(5, error), retry_on=ConnectionError, sleep=stop.wait)
    assert raised.value.last is error and raised.value.__cause__ is error


def test_a_sleep_that_returns_false_goes_on(fake: FakeTime) -> None:
    def wait(seconds: float) -> bool:
        fake.sleep(seconds)
        return False  # as `Event.wait` does when the event stays clear

    assert retry(failing(2, OSError()), retry_on=OSError, sleep=wait) == "done"
    assert fake.slept == [1.0, 2.0]
