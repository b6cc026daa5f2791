"""Waiting for the Kafka broker: backoff between tries, one log line per try.

A service started before its broker (a host reboot, `docker compose up` racing the
broker's health check) should wait rather than exit and lean on a restart policy, and say
so in one line per try instead of a client library's traceback. A try is a TCP connect to
the bootstrap servers (quiet and quick while nothing listens) and then one metadata
request, so "reachable" means a broker that answers, not just an open port.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

from relstream.core.retry import Attempt, Backoff, NotYet, RetryStopped, retry

log = logging.getLogger(__name__)

FIRST_WAIT_S = 1.0
MAX_WAIT_S = 30.0


def _hosts(bootstrap: str) -> list[tuple[str, int]]:
    out = []
    for part in bootstrap.split(","):
        host, _, port = part.strip().rpartition(":")
        if host and port.isdigit():
            out.append((host.strip("[]"), int(port)))
    return out


def broker_problem(kafka: Mapping[str, Any], timeout_s: float = 5.0) -> str | None:
    """None if a broker answers a metadata request, else what went wrong. `kafka` is a
    kafka-python client config (`CommonSettings.kafka_client_config()`): bootstrap servers
    and security, so a broker that refuses our credentials is reported too."""
    bootstrap = str(kafka["bootstrap_servers"])
    hosts = _hosts(bootstrap)
    if not hosts:
        return f"bootstrap servers {bootstrap!r} are not host:port"
    errors = []
    for host, port in hosts:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                break
        except OSError as exc:
            errors.append(f"{host}:{port}: {exc.strerror or exc}")
    else:
        return "; ".join(errors)
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(**kafka, client_id="relstream-wait",
                                 request_timeout_ms=int(timeout_s * 1000))
    except Exception as exc:  # kafka-python raises several types here: all mean "not yet"
        return f"no metadata answer ({type(exc).__name__}: {exc})"
    try:
        admin.list_topics()
    except Exception as exc:
        return f"no metadata answer ({type(exc).__name__}: {exc})"
    finally:
        admin.close()
    return None


def wait_for_broker(kafka: Mapping[str, Any], what: str, *, stop: threading.Event | None = None,
                    first_wait_s: float = FIRST_WAIT_S, max_wait_s: float = MAX_WAIT_S,
                    timeout_s: float = 5.0) -> bool:
    """Block until the broker answers; True then, False if `stop` was set while waiting.

    Waits double from `first_wait_s` up to `max_wait_s`; every failed try logs one
    WARNING line naming `what` is waiting, the reason, the try number and the next wait.
    """
    if stop is not None and stop.is_set():
        return False
    bootstrap = kafka["bootstrap_servers"]
    failed: list[Attempt] = []

    def answers() -> None:
        problem = broker_problem(kafka, timeout_s)
        if problem is not None:
            raise NotYet(problem)

    def say(attempt: Attempt) -> None:
        failed.append(attempt)
        log.warning("%s: Kafka broker %s not reachable (%s); try %d, next in %.0f s", what,
                    bootstrap, attempt.error, attempt.number, attempt.wait_s)

    started = time.monotonic()
    try:
        retry(answers, retry_on=NotYet, backoff=Backoff(first_wait_s, 2.0, max_wait_s),
              on_retry=say, sleep=stop.wait if stop is not None else time.sleep)
    except RetryStopped:
        return False
    if failed:
        log.info("%s: Kafka broker %s answers after %d tries (%.0f s)", what, bootstrap,
                 len(failed) + 1, time.monotonic() - started)
    return True
