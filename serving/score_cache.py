"""A per-version cache of (query, item text) → score, bounded in bytes, for head queries.

Head queries repeat the same (query, item) pairs many times; a version's score for a pair
never changes, so it is computed once. The cache belongs to one loaded version (a
`CachedScorer` wraps that version's scorer): a swap starts the new version with an empty
cache and `close()` drops the old one's entries, so a score is never served by a version
other than the one that computed it. Size is counted in (estimated) bytes, not entries,
because queries and item texts vary in length.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence

from relstream.core.manifest import ModelManifest
from serving.onnx_scorer import Scorer

ENTRY_OVERHEAD_BYTES = 160
"""Per entry besides the two strings: key tuple, float, and the ordered dict's node."""


def entry_bytes(query: str, text: str) -> int:
    return sys.getsizeof(query) + sys.getsizeof(text) + ENTRY_OVERHEAD_BYTES


class ScoreCache:
    """Least-recently-used (query, text) → score, at most `max_bytes` (estimated)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get_many(self, query: str, texts: Sequence[str]) -> list[float | None]:
        """The cached score per text, or None; found entries become most recent."""
        out: list[float | None] = []
        with self._lock:
            for text in texts:
                found = self._entries.get((query, text))
                if found is None:
                    out.append(None)
                else:
                    self._entries.move_to_end((query, text))
                    out.append(found[0])
            hits = sum(v is not None for v in out)
            self.hits += hits
            self.misses += len(out) - hits
        return out

    def put_many(self, query: str, texts: Sequence[str], scores: Sequence[float]) -> None:
        if self.max_bytes <= 0:
            return
        with self._lock:
            for text, score in zip(texts, scores, strict=True):
                key = (query, text)
                size = entry_bytes(query, text)
                if size > self.max_bytes:
                    continue  # one giant pair must not flush everything else
                old = self._entries.pop(key, None)
                if old is not None:
                    self.bytes -= old[1]
                self._entries[key] = (score, size)
                self.bytes += size
            while self.bytes > self.max_bytes and self._entries:
                _, (_, size) = self._entries.popitem(last=False)
                self.bytes -= size
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0


class CachedScorer:
    """A version's scorer with its own `ScoreCache` in front."""

    def __init__(self, inner: Scorer, max_bytes: int) -> None:
        self.inner = inner
        self.manifest: ModelManifest = inner.manifest
        self.precision = inner.precision
        self.cache = ScoreCache(max_bytes)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        cached = self.cache.get_many(query, texts)
        missing = list(dict.fromkeys(t for t, s in zip(texts, cached, strict=True) if s is None))
        if not missing:
            return [s for s in cached if s is not None]
        fresh = dict(zip(missing, self.inner.score(query, missing), strict=True))
        self.cache.put_many(query, missing, [fresh[t] for t in missing])
        return [s if s is not None else fresh[t] for t, s in zip(texts, cached, strict=True)]

    def warm_items(self, texts: Sequence[str]) -> int:
        """Precompute what the inner scorer can for these item texts (see `Scorer`)."""
        return self.inner.warm_items(texts)

    def close(self) -> None:
        self.cache.clear()
        self.inner.close()
