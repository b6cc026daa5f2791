"""All model holders of one service, keyed by (model name, version or `latest`).

A/B arms name what they serve; the pool makes one holder per distinct pair, applies
model-update events to the holders that follow `latest`, and polls the registry in a
background thread as a fallback for missed events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from relstream.core.manifest import ModelManifest
from relstream.core.registry import RegistryError, check_name, check_version
from serving.errors import ServingError
from serving.model_holder import LATEST, ModelHolder
from serving.onnx_scorer import Scorer

log = logging.getLogger(__name__)


class TooManyModels(ServingError):
    """A configuration names more (model, version) pairs than `max_holders` (409)."""


class ModelPool:
    """Creates holders on demand and keeps the `latest` ones up to date."""

    def __init__(
        self, registry_root: Path, *, threads: int = 1, cache_size: int = 100_000,
        drain_timeout_s: float = 30.0, load: Callable[[ModelManifest], Scorer] | None = None,
        max_holders: int = 16, load_nice: int = 0,
    ) -> None:
        self._load_nice = load_nice
        self.registry_root = registry_root
        self.max_holders = max_holders
        self._load = load
        self._threads = threads
        self._cache_size = cache_size
        self._drain_timeout_s = drain_timeout_s
        self._holders: dict[tuple[str, str], ModelHolder] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self.refused_updates = 0
        """Model-update events refused for a name or version the registry cannot have."""

    def holder(self, name: str, version: str = LATEST) -> ModelHolder:
        """The holder for (name, version), created and loaded on first use."""
        key = (name, version)
        with self._lock:
            found = self._holders.get(key)
            if found is None:
                found = ModelHolder(
                    self.registry_root, name, version, threads=self._threads,
                    cache_size=self._cache_size, drain_timeout_s=self._drain_timeout_s,
                    load=self._load, load_nice=self._load_nice,
                )
                self._holders[key] = found
                created = True
            else:
                created = False
        if created:
            found.refresh()  # a missing model is not fatal: /readyz says so, polls retry
        return found

    def get(self, name: str, version: str = LATEST) -> ModelHolder | None:
        """The holder for (name, version) if the pool has one; never creates one."""
        with self._lock:
            return self._holders.get((name, version))

    def ensure(self, keys: Iterable[tuple[str, str]]) -> list[ModelHolder]:
        """Holders for every (name, version) of a configuration, created and loaded.

        `TooManyModels` if the configuration names more than `max_holders` pairs: each
        holder keeps up to two onnxruntime sessions, so their number is what bounds memory.
        """
        wanted = list(dict.fromkeys(keys))
        if len(wanted) > self.max_holders:
            raise TooManyModels(
                f"the configuration names {len(wanted)} (model, version) pairs; at most "
                f"{self.max_holders} (max_holders) can be loaded at once")
        return [self.holder(name, version) for name, version in wanted]

    def retain(self, keys: Iterable[tuple[str, str]]) -> int:
        """Close and forget every holder not in `keys` (after a configuration change);
        requests still scoring on one finish first. Returns how many were dropped."""
        keep = set(keys)
        with self._lock:
            gone = [h for k, h in self._holders.items() if k not in keep]
            self._holders = {k: h for k, h in self._holders.items() if k in keep}
        for h in gone:
            h.close()
        if gone:
            log.info("unloaded %s: no arm serves them", [f"{h.name}@{h.spec}" for h in gone])
        return len(gone)

    def holders(self) -> list[ModelHolder]:
        with self._lock:
            return list(self._holders.values())

    def any_ready(self) -> bool:
        return any(h.version is not None for h in self.holders())

    def on_model_update(self, name: str, version: str, manifest_sha: str | None = None) -> None:
        """A model-update event: every `latest` holder of `name` moves to `version`.

        A pinned holder also retries when the event is its own version (it may have been
        missing at start-up). Versions older than the one served are ignored. An event whose
        name or version is not a registry name or number is refused and logged: events come
        from a topic, and a version like `../../x/1` must never become a path.
        """
        try:
            check_name(name)
            check_version(version)
        except RegistryError as exc:
            self.refused_updates += 1
            log.warning("refused model update %r v%r: %s", name, version, exc)
            return
        for h in self.holders():
            if h.name != name:
                continue
            if h.follows_latest and _newer(version, h.version):
                h.load(version, manifest_sha)
            elif h.spec == version and h.version is None:
                h.load(version, manifest_sha)

    def refresh_all(self) -> int:
        """One registry poll over every holder; returns how many swapped."""
        swapped = 0
        for h in self.holders():
            try:
                swapped += h.refresh()
            except Exception:  # a poll must never kill the poller
                log.exception("registry poll of %s failed", h.name)
        return swapped

    def start_polling(self, interval_s: float) -> None:
        if interval_s <= 0 or self._poller is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.refresh_all()

        self._poller = threading.Thread(target=loop, name="registry-poll", daemon=True)
        self._poller.start()

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        for h in self.holders():
            h.close()


def _newer(candidate: str, current: str | None) -> bool:
    """Is `candidate` a later version than `current`? A version that is not a number is
    never newer: it did not come from the registry (the holder refuses it anyway)."""
    if not candidate.isascii() or not candidate.isdigit():
        return False
    if current is None:
        return True
    return not current.isdigit() or int(candidate) > int(current)
