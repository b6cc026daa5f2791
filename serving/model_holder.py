"""Hot-swappable model holder: verify, load, warm up, swap one reference, release the old.

Requests take a lease on the current `LoadedModel` and score on it; a swap replaces the
reference, so in-flight requests finish on the old session, and the last lease to leave
releases it. A swap first waits for the previous retired model to drain, so at most two
sessions of one model are ever alive (creating sessions without bound is a known memory
trap in onnxruntime). A failed load logs why and keeps the old model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from relstream.core.manifest import (
    ModelLoadError,
    ModelManifest,
    manifest_sha256,
    read_manifest,
    verify_files,
)
from relstream.core.registry import RegistryError, check_version, latest_version, version_dir
from serving.errors import ServingError
from serving.low_priority import run_niced
from serving.onnx_scorer import Scorer, load_scorer

log = logging.getLogger(__name__)

LATEST = "latest"
WARMUP_QUERY = "warm up query"
WARMUP_TEXTS = ("warm up item | category: warm up", "second item | category: other")
REFUSED_RETRY_S = 60.0
"""How often the registry poll retries a version it refused (an event always retries)."""
REFUSED_KEEP = 32
"""Refused versions remembered per holder (the newest); an older one forgotten is only
retried by a poll if it is still the registry's latest, which it then cannot be."""


class NoModelLoaded(ServingError):
    """No version of the model has ever loaded: the service is not ready (503)."""


@dataclass
class LoadedModel:
    """One loaded version and how many requests are scoring on it right now."""

    name: str
    version: str
    scorer: Scorer
    loaded_at: float = field(default_factory=time.time)
    users: int = 0
    retired: bool = False
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.scorer.close()
        self.released.set()


@dataclass
class SwapStats:
    swaps: int = 0
    failures: int = 0
    last_error: str = ""
    history: list[tuple[str, float, float]] = field(default_factory=list)
    """(version, live_from, live_until) per version that was served, newest last."""


class ModelHolder:
    """Serves one model name, pinned to a version or following `latest`."""

    def __init__(
        self, registry_root: Path, name: str, version: str = LATEST, *,
        threads: int = 1, cache_size: int = 100_000, drain_timeout_s: float = 30.0,
        on_swap: Callable[[ModelHolder, str, str | None], None] | None = None,
        load: Callable[[ModelManifest], Scorer] | None = None, load_nice: int = 0,
    ) -> None:
        self.registry_root = registry_root
        self._load_nice = load_nice  # see serving.low_priority
        self.name = name
        self.spec = version
        self._threads = threads
        self._cache_size = cache_size
        # How a verified manifest becomes a scorer (graphs, precision, caches): the service
        # passes `scorer_loading.scorer_loader`; the default loads the fp32 graphs.
        self._load = load or (lambda m: load_scorer(m, self._threads, self._cache_size))
        self._drain_timeout_s = drain_timeout_s
        self._on_swap = on_swap
        self._current: LoadedModel | None = None
        self._retiring: LoadedModel | None = None
        self._lock = threading.Lock()  # guards the references and lease counts
        self._swap_lock = threading.Lock()  # one load at a time
        self._live = 0
        # Refused versions → when: a published version never changes, so the registry poll
        # retries a refused one only every REFUSED_RETRY_S (a slow copy onto a mounted
        # volume may still complete) instead of logging the same error every poll.
        self._refused: OrderedDict[str, float] = OrderedDict()
        self.stats = SwapStats()

    @property
    def follows_latest(self) -> bool:
        return self.spec == LATEST

    @property
    def version(self) -> str | None:
        current = self._current
        return current.version if current else None

    @property
    def refused_versions(self) -> list[str]:
        """Versions refused recently (newest last), at most `REFUSED_KEEP`."""
        return list(self._refused)

    @property
    def live_sessions(self) -> int:
        """Loaded versions not yet released (current plus one draining at most)."""
        return self._live

    @contextmanager
    def lease(self) -> Iterator[LoadedModel]:
        """The current model, guaranteed not to be released until the block ends."""
        with self._lock:
            model = self._current
            if model is None:
                raise NoModelLoaded(
                    f"no version of {self.name!r} has loaded yet from {self.registry_root}"
                )
            model.users += 1
        try:
            yield model
        finally:
            with self._lock:
                model.users -= 1
                done = model.retired and model.users == 0
            if done:
                self._release(model)

    def _release(self, model: LoadedModel) -> None:
        model.release()
        with self._lock:
            self._live -= 1
            if self._retiring is model:
                self._retiring = None
        log.info("released %s v%s", model.name, model.version)

    def target_version(self) -> str | None:
        """The version this holder should serve now according to the registry."""
        if self.follows_latest:
            return latest_version(self.registry_root, self.name)
        return self.spec

    def refresh(self) -> bool:
        """Load the target version if it differs from the current one (registry poll)."""
        target = self.target_version()
        if target is None or target == self.version:
            return False
        refused = self._refused.get(target)
        if refused is not None and time.monotonic() - refused < REFUSED_RETRY_S:
            return False
        return self.load(target)

    def load(self, version: str, manifest_sha: str | None = None) -> bool:
        """Verify, load, warm up and swap in `version`. False (old model kept) on failure.

        `manifest_sha` (from a model-update event) must match the manifest file too.
        """
        try:
            check_version(version)  # before any path is built from it
        except RegistryError as exc:
            self.stats.failures += 1
            self.stats.last_error = f"{self.name}: {exc}"
            log.warning("refused to load %s v%r: %s", self.name, version, exc)
            return False
        with self._swap_lock:
            if version == self.version:
                return False
            try:
                model = run_niced(lambda: self._load_verified(version, manifest_sha),
                                  self._load_nice)
            except Exception as exc:  # any failure keeps the old model serving
                if version_dir(self.registry_root, self.name, version).is_dir():
                    self._refused[version] = time.monotonic()  # present but bad
                    self._refused.move_to_end(version)
                    while len(self._refused) > REFUSED_KEEP:
                        self._refused.popitem(last=False)
                self.stats.failures += 1
                self.stats.last_error = f"{self.name} v{version}: {exc}"
                log.error("model swap to %s v%s failed, keeping v%s: %s",
                          self.name, version, self.version, exc)
                return False
            self._refused.pop(version, None)
            self._swap_in(model)
        return True

    def _wait_for_drain(self) -> None:
        retiring = self._retiring
        if retiring is not None and not retiring.released.wait(self._drain_timeout_s):
            raise ModelLoadError(
                f"v{retiring.version} still has {retiring.users} request(s) after "
                f"{self._drain_timeout_s:.0f}s; not loading a third session"
            )

    def _load_verified(self, version: str, manifest_sha: str | None) -> LoadedModel:
        self._wait_for_drain()
        directory = version_dir(self.registry_root, self.name, version)
        manifest = read_manifest(directory)
        if manifest_sha and manifest_sha256(directory) != manifest_sha:
            raise ModelLoadError(
                f"{directory}: manifest sha256 differs from the model-update event's "
                f"{manifest_sha[:12]}… (a different or rewritten version)"
            )
        verify_files(manifest)
        scorer = self._load(manifest)
        try:
            scores = scorer.score(WARMUP_QUERY, list(WARMUP_TEXTS))
            if len(scores) != len(WARMUP_TEXTS):
                raise ModelLoadError(f"warm-up gave {len(scores)} scores for 2 items")
        except Exception:
            scorer.close()
            raise
        with self._lock:
            self._live += 1
        return LoadedModel(self.name, manifest.version, scorer)

    def _swap_in(self, model: LoadedModel) -> None:
        with self._lock:
            now = time.time()  # inside the lock: no lease can fall between swap and stamp
            old, self._current = self._current, model
            if old is not None:
                old.retired = True
                release_now = old.users == 0
                if not release_now:
                    self._retiring = old
            else:
                release_now = False
            self.stats.swaps += 1
            if self.stats.history:
                v, start, _ = self.stats.history[-1]
                self.stats.history[-1] = (v, start, now)
            self.stats.history.append((model.version, now, float("inf")))
            del self.stats.history[:-1000]
        if old is not None and release_now:
            self._release(old)
        log.info("serving %s v%s (was v%s)", self.name, model.version,
                 old.version if old else None)
        if self._on_swap:
            self._on_swap(self, model.version, old.version if old else None)

    def close(self) -> None:
        """Release the current model (shutdown); later leases get `NoModelLoaded`."""
        with self._swap_lock:
            with self._lock:
                model, self._current = self._current, None
                if model is not None:
                    model.retired = True
                    release_now = model.users == 0
            if model is not None and release_now:
                self._release(model)
