"""Model loads at a lower CPU priority than the requests they must not slow down.

A hot swap verifies files (sha256), builds onnxruntime sessions and warms them up: about
half a second of CPU per version on 2 cores, taken from the very cores that are serving.
Run at a higher niceness, the load gets the CPU the requests leave idle, so p99 latency
during swaps stays near steady state; the load itself takes a little longer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_niced(fn: Callable[[], T], nice: int) -> T:
    """`fn()` on a fresh thread whose niceness is raised by `nice` (Linux niceness is per
    thread, and threads it starts inherit it); its result or exception comes back here.
    `nice <= 0`, or a platform without per-thread priorities, runs it as is."""
    if nice <= 0:
        return fn()
    box: dict[str, object] = {}

    def work() -> None:
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
        except (AttributeError, OSError):  # no per-thread priority here: load at normal
            pass
        try:
            box["result"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="model-load", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]
