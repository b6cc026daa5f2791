"""onnxruntime scorers for the two students, tokenised with `tokenizers` (no torch here).

A scorer turns (query, item texts) into relevance scores in [0, 1]:
`score = Σ_g w_g · softmax(logits)_g` with the manifest's `score_weights`. The two-tower
scorer caches item embeddings per model version (one scorer = one version). Either
scorer runs the graphs it is given: the fp32 `graphs` or, when the INT8 gate allows, the
manifest's `quantized_graphs` (see `serving.precision`).
"""

from __future__ import annotations

import ctypes
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from relstream.core.manifest import ModelLoadError, ModelManifest
from relstream.core.schemas import GRADES

TOKENIZER_FILE = "tokenizer/tokenizer.json"


class Scorer(Protocol):
    """What the model holder serves: one loaded model version."""

    manifest: ModelManifest
    precision: str
    """"fp32" or "int8": which of the version's graphs run."""

    def score(self, query: str, texts: Sequence[str]) -> list[float]: ...

    def warm_items(self, texts: Sequence[str]) -> int:
        """Precompute per-item work for `texts` (two-tower item embeddings); returns how
        many items were computed (0 for a scorer with nothing to precompute)."""
        ...

    def close(self) -> None: ...


def session_options(threads: int, arena: bool = True) -> ort.SessionOptions:
    """One session's options: `threads` intra-op threads that do not spin, and the arena.

    The service bounds how many runs share the cores (`serving.limiter`), so the threads
    here are per run: runs × threads never exceeds the cores.
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # Spinning threads steal the 2 shared cores from tokenisation and the event loop.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # The arena reuses freed blocks between runs instead of allocating every run (~3%
    # faster here). One arena per session grew RSS by half over 20 hot swaps of a
    # MiniLM student (each new session builds its own, freed blocks stay in the heap), so
    # every version uses one process-wide arena registered with onnxruntime instead.
    opts.enable_cpu_mem_arena = arena
    if arena:
        _register_shared_arena()
        opts.add_session_config_entry("session.use_env_allocators", "1")
    return opts


_arena_lock = threading.Lock()
_arena_registered = False


def _register_shared_arena() -> None:
    global _arena_registered
    with _arena_lock:
        if _arena_registered:
            return
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                 ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))  # defaults
        _arena_registered = True


def release_heap() -> None:
    """Give freed heap pages back to the OS (glibc `malloc_trim`), after a version is
    released: without it the allocator keeps them and RSS creeps up swap after swap."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def load_tokenizer(manifest: ModelManifest) -> Tokenizer:
    """The version's tokenizer, truncating to its max_length and padding each batch."""
    path = manifest.path(TOKENIZER_FILE)
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad files
        raise ModelLoadError(f"cannot load tokenizer {path}: {exc}") from exc
    tok.enable_truncation(max_length=manifest.max_length)
    pad_id = tok.token_to_id("[PAD]")
    tok.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token="[PAD]")
    return tok


def _session(manifest: ModelManifest, file: str, threads: int,
             arena: bool) -> ort.InferenceSession:
    path = manifest.path(file)
    try:
        return ort.InferenceSession(
            str(path), sess_options=session_options(threads, arena),
            providers=["CPUExecutionProvider"],
        )
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelLoadError(f"onnxruntime cannot load {path}: {exc}") from exc


def _output(session: ort.InferenceSession, wanted: str) -> str:
    # Exports may add auxiliary outputs (dimension-check heads); take the named one.
    names = [o.name for o in session.get_outputs()]
    return wanted if wanted in names else names[0]


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def feeds_of(encodings: list[Any], names: set[str]) -> dict[str, np.ndarray]:
    """onnxruntime inputs (those in `names`) of a batch of `tokenizers` encodings."""
    feeds = {
        "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
    }
    return {k: v for k, v in feeds.items() if k in names}


class _WeightedScores:
    def __init__(self, manifest: ModelManifest) -> None:
        weights = manifest.grade_weights()
        self._weights = np.asarray([weights[g] for g in GRADES], np.float64)

    def __call__(self, logits: np.ndarray) -> list[float]:
        probs = _softmax(np.asarray(logits, dtype=np.float64))
        scores = np.clip(probs @ self._weights, 0.0, 1.0)
        return [float(s) for s in scores]


class CrossEncoderScorer:
    """`[CLS] query [SEP] item text [SEP]` → logits over E, S, C, I, one row per item."""

    def __init__(self, manifest: ModelManifest, threads: int = 1, *,
                 graphs: dict[str, str] | None = None, precision: str = "fp32",
                 arena: bool = True) -> None:
        self.manifest = manifest
        self.precision = precision
        self._tok = load_tokenizer(manifest)
        file = (graphs or manifest.graphs)["scorer"]
        self._session: ort.InferenceSession | None = _session(manifest, file, threads, arena)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._out = _output(self._session, "logits")
        self._weighted = _WeightedScores(manifest)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        session = self._session
        if session is None:
            raise ModelLoadError(f"{self.manifest.name} v{self.manifest.version} was released")
        encodings = self._tok.encode_batch([(query, t) for t in texts])
        (logits,) = session.run([self._out], feeds_of(encodings, self._inputs))
        return self._weighted(logits)

    def warm_items(self, texts: Sequence[str]) -> int:
        return 0  # every pair needs the full model: nothing per item to precompute

    def close(self) -> None:
        self._session = None
        release_heap()


class TwoTowerScorer:
    """Query tower + item tower (embeddings cached per version) + a small head."""

    def __init__(self, manifest: ModelManifest, threads: int = 1, cache_size: int = 100_000,
                 *, graphs: dict[str, str] | None = None, precision: str = "fp32",
                 arena: bool = True) -> None:
        self.manifest = manifest
        self.precision = precision
        self._tok = load_tokenizer(manifest)
        files = graphs or manifest.graphs
        self._sessions: dict[str, ort.InferenceSession] | None = {
            g: _session(manifest, files[g], threads, arena)
            for g in ("query_tower", "item_tower", "head")
        }
        self._inputs = {g: {i.name for i in s.get_inputs()} for g, s in self._sessions.items()}
        self._outs = {
            g: _output(s, "logits" if g == "head" else "embedding")
            for g, s in self._sessions.items()
        }
        self._weighted = _WeightedScores(manifest)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0

    def _embed(self, graph: str, texts: list[str]) -> np.ndarray:
        assert self._sessions is not None
        encodings = self._tok.encode_batch(texts)
        feeds = feeds_of(encodings, self._inputs[graph])
        (emb,) = self._sessions[graph].run([self._outs[graph]], feeds)
        return np.asarray(emb, dtype=np.float32)

    def item_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of `texts`, from the cache where possible (keyed by item text)."""
        with self._cache_lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
            for t in found:
                self._cache.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        self.cache_hits += len(texts) - len(missing)
        self.cache_misses += len(missing)
        if missing:
            fresh = self._embed("item_tower", missing)
            with self._cache_lock:
                for text, row in zip(missing, fresh, strict=True):
                    found[text] = row
                    if self._cache_size:
                        self._cache[text] = row
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def warm_items(self, texts: Sequence[str], batch_size: int = 64) -> int:
        """Embed the items of `texts` not cached yet, in batches; returns how many."""
        if self._sessions is None:
            return 0
        with self._cache_lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            room = self._cache_size - len(self._cache)
        missing = missing[:max(0, room)]  # warming must not evict what requests use
        for i in range(0, len(missing), batch_size):
            self.item_embeddings(missing[i:i + batch_size])
        return len(missing)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        if self._sessions is None:
            raise ModelLoadError(f"{self.manifest.name} v{self.manifest.version} was released")
        items = self.item_embeddings(texts)
        query_emb = np.repeat(self._embed("query_tower", [query]), len(texts), axis=0)
        (logits,) = self._sessions["head"].run(
            [self._outs["head"]], {"query_embedding": query_emb, "item_embedding": items}
        )
        return self._weighted(logits)

    def close(self) -> None:
        self._sessions = None
        with self._cache_lock:
            self._cache.clear()
        release_heap()


def load_scorer(
    manifest: ModelManifest, threads: int = 1, cache_size: int = 100_000, *,
    graphs: dict[str, str] | None = None, precision: str = "fp32", arena: bool = True,
) -> Scorer:
    """A scorer for a verified manifest; `ModelLoadError` when a graph will not load.

    `graphs` (role → file) defaults to the manifest's fp32 graphs; `precision` names them.
    """
    if manifest.kind == "cross_encoder":
        return CrossEncoderScorer(manifest, threads, graphs=graphs, precision=precision,
                                  arena=arena)
    return TwoTowerScorer(manifest, threads, cache_size, graphs=graphs, precision=precision,
                          arena=arena)
