"""The serving bench's baseline: bare onnxruntime `session.run` on the server's own batches.

The batches are the request bodies the load generator sends (same generator, same seeds),
tokenised once up front with the version's tokenizer, and run on the graph the server
serves (INT8 when the gate allows) with the server's session options. Only the thread
layout varies — intra-op threads per run × runs at once — and the best layout is the
baseline: pairs/s the hardware gives with nothing but the model in the way.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from relstream.core.manifest import ModelManifest
from serving.onnx_scorer import feeds_of, load_tokenizer, session_options
from serving.precision import Precision

LAYOUTS = ((1, 1), (1, 2), (2, 1))
"""(intra-op threads per run, runs at once) tried on a 2-core machine."""


@dataclass(frozen=True)
class RawResult:
    threads: int
    workers: int
    runs: int
    pairs: int
    seconds: float

    @property
    def pairs_per_s(self) -> float:
        return self.pairs / self.seconds if self.seconds else float("nan")


def request_batches(make_body: Callable[[random.Random], dict[str, Any]], texts: dict[str, str],
                    clients: int, seed: int, n: int) -> list[tuple[str, list[str]]]:
    """The first `n` (query, item texts) the load generator's clients send, round robin."""
    rngs = [random.Random(seed * 1000 + k) for k in range(clients)]
    out = []
    for i in range(n):
        body = make_body(rngs[i % clients])
        out.append((str(body["query"]), [texts[str(item)] for item in body["item_ids"]]))
    return out


def tokenised(manifest: ModelManifest, session: ort.InferenceSession,
              batches: Sequence[tuple[str, list[str]]]) -> list[dict[str, np.ndarray]]:
    """Feeds of each (query, texts) exactly as the cross-encoder scorer builds them."""
    tok = load_tokenizer(manifest)
    names = {i.name for i in session.get_inputs()}
    return [feeds_of(tok.encode_batch([(q, t) for t in texts]), names) for q, texts in batches]


def run_layout(manifest: ModelManifest, precision: Precision, feeds: list[dict[str, np.ndarray]],
               threads: int, workers: int, seconds: float) -> RawResult:
    """`workers` threads each calling `session.run` on the batches in turn for `seconds`."""
    session = ort.InferenceSession(
        str(manifest.path(precision.graphs["scorer"])),
        sess_options=session_options(threads, arena=True), providers=["CPUExecutionProvider"])
    for feed in feeds[:3]:  # warm-up: arena, shapes
        session.run(None, feed)
    counts = [[0, 0] for _ in range(workers)]  # runs, pairs
    deadline = time.perf_counter() + seconds

    def work(k: int) -> None:
        i = k
        while time.perf_counter() < deadline:
            feed = feeds[i % len(feeds)]
            session.run(None, feed)
            counts[k][0] += 1
            counts[k][1] += len(feed["input_ids"])
            i += workers

    start = time.perf_counter()
    pool = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    return RawResult(threads, workers, sum(c[0] for c in counts), sum(c[1] for c in counts),
                     elapsed)


def measure_raw(manifest: ModelManifest, precision: Precision,
                feeds: list[dict[str, np.ndarray]], seconds: float,
                layouts: Sequence[tuple[int, int]] = LAYOUTS) -> list[RawResult]:
    """Every layout on the same tokenised batches; the caller takes the best."""
    return [run_layout(manifest, precision, feeds, t, w, seconds) for t, w in layouts]


def probe_session(manifest: ModelManifest, precision: Precision) -> ort.InferenceSession:
    """A session of the served graph, for its input names."""
    return ort.InferenceSession(str(manifest.path(precision.graphs["scorer"])),
                                providers=["CPUExecutionProvider"])
