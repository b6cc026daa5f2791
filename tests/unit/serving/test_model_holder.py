"""Hot swap: verify, load, swap a reference, drain the old, never more than two sessions."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from relstream.tools.toy_models import publish_toy_model
from serving.model_holder import ModelHolder, NoModelLoaded
from serving.model_pool import ModelPool

QUERY = "stride runner black"
TEXTS = ["Stride Runner 4 black shoe", "trailpeak hiking boot"]


def _copy_registry(registry: Path, tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    shutil.copytree(registry, root)
    return root


def test_follows_latest_and_scores(registry: Path) -> None:
    holder = ModelHolder(registry, "cross_encoder")
    with pytest.raises(NoModelLoaded, match="cross_encoder"):
        with holder.lease():
            pass
    assert holder.refresh() and holder.version == "2"
    assert not holder.refresh()  # already on the latest
    with holder.lease() as model:
        assert len(model.scorer.score(QUERY, TEXTS)) == 2
    holder.close()


def test_swap_lets_in_flight_requests_finish_on_the_old_model(registry: Path) -> None:
    holder = ModelHolder(registry, "cross_encoder", "1")
    holder.refresh()
    with holder.lease() as old:
        assert holder.load("2") and holder.version == "2"
        assert holder.live_sessions == 2 and not old.released.is_set()
        assert old.version == "1" and len(old.scorer.score(QUERY, TEXTS)) == 2
    assert old.released.is_set() and holder.live_sessions == 1
    assert [v for v, _, _ in holder.stats.history] == ["1", "2"]
    holder.close()
    assert holder.live_sessions == 0


def test_never_a_third_session_while_the_old_one_drains(registry: Path) -> None:
    holder = ModelHolder(registry, "cross_encoder", "1", drain_timeout_s=0.2)
    holder.refresh()
    with holder.lease():
        assert holder.load("2")
        assert not holder.load("1")  # v1 is still draining: no third session
        assert holder.version == "2" and holder.live_sessions == 2
        assert "still has 1 request" in holder.stats.last_error
    assert holder.load("1") and holder.live_sessions == 1
    holder.close()


def test_corrupt_version_keeps_the_old_model(registry: Path, tmp_path: Path) -> None:
    root = _copy_registry(registry, tmp_path)
    holder = ModelHolder(root, "cross_encoder")
    holder.refresh()
    bad = publish_toy_model(root, "cross_encoder", seed=9)
    (root / "cross_encoder" / bad / "model.onnx").write_bytes(b"truncated")
    assert not holder.refresh()
    assert holder.version == "2" and holder.stats.failures == 1
    assert "sha256 of model.onnx" in holder.stats.last_error
    with holder.lease() as model:
        assert len(model.scorer.score(QUERY, TEXTS)) == 2
    holder.close()


def test_wrong_event_sha_is_refused(registry: Path) -> None:
    holder = ModelHolder(registry, "cross_encoder", "1")
    holder.refresh()
    assert not holder.load("2", manifest_sha="0" * 64)
    assert holder.version == "1" and "model-update event" in holder.stats.last_error
    holder.close()


def test_concurrent_leases_during_swaps(registry: Path) -> None:
    holder = ModelHolder(registry, "cross_encoder", "1")
    holder.refresh()
    errors: list[BaseException] = []
    stop = threading.Event()
    max_live = [0]

    def worker() -> None:
        while not stop.is_set():
            try:
                with holder.lease() as model:
                    model.scorer.score(QUERY, TEXTS)
                    max_live[0] = max(max_live[0], holder.live_sessions)
            except BaseException as exc:  # noqa: B036 - any failure fails the test
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for k in range(10):
        holder.load("2" if k % 2 == 0 else "1")
    stop.set()
    for t in threads:
        t.join()
    assert errors == [] and holder.stats.swaps == 11 and max_live[0] <= 2
    holder.close()


def test_pool_applies_updates_to_latest_holders_only(registry: Path, tmp_path: Path) -> None:
    root = _copy_registry(registry, tmp_path)
    pool = ModelPool(root)
    latest, pinned = pool.holder("cross_encoder"), pool.holder("cross_encoder", "1")
    assert (latest.version, pinned.version) == ("2", "1")
    new = publish_toy_model(root, "cross_encoder", seed=5)
    pool.on_model_update("cross_encoder", new)
    assert (latest.version, pinned.version) == (new, "1")
    pool.on_model_update("cross_encoder", "2")  # an older event replayed: ignored
    assert latest.version == new
    newer = publish_toy_model(root, "cross_encoder", seed=6)
    assert pool.refresh_all() == 1 and latest.version == newer  # the poll fallback
    pool.close()


def test_two_tower_caches_item_embeddings_per_version(registry: Path) -> None:
    holder = ModelHolder(registry, "two_tower")
    holder.refresh()
    with holder.lease() as model:
        scorer = model.scorer
        first = scorer.score(QUERY, TEXTS)
        misses = scorer.cache_misses  # type: ignore[attr-defined]
        assert scorer.score(QUERY, TEXTS) == first
        assert scorer.cache_misses == misses and scorer.cache_hits >= 2  # type: ignore[attr-defined]
    holder.close()


def test_a_corrupt_version_is_not_retried_at_every_poll(registry: Path, tmp_path: Path) -> None:
    root = _copy_registry(registry, tmp_path)
    graph = root / "cross_encoder" / "2" / "model.onnx"
    graph.chmod(0o644)
    graph.write_bytes(graph.read_bytes()[:-16] + b"\0" * 16)
    holder = ModelHolder(root, "cross_encoder")
    assert not holder.refresh() and holder.version is None
    assert "sha256" in holder.stats.last_error and holder.stats.failures == 1
    assert not holder.refresh() and holder.stats.failures == 1  # backed off, not retried
    assert not holder.load("2") and holder.stats.failures == 2  # an explicit load tries
    holder.close()


def test_a_version_missing_at_start_is_loaded_at_the_next_poll(registry: Path,
                                                                tmp_path: Path) -> None:
    root = tmp_path / "registry"
    holder = ModelHolder(root, "cross_encoder", "1")
    assert not holder.refresh() and holder.version is None  # nothing published yet
    shutil.copytree(registry, root)
    assert holder.refresh() and holder.version == "1"
    holder.close()


def test_loads_run_niced_and_failures_still_keep_the_old_model(registry: Path,
                                                               tmp_path: Path) -> None:
    """A load runs on its own thread at +10 niceness (the request threads keep theirs), and
    a bad version raised there still reaches the holder, which keeps serving."""
    import os

    seen: list[int] = []
    pool_loader = ModelHolder(registry, "cross_encoder")._load

    def load(manifest):  # type: ignore[no-untyped-def]
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return pool_loader(manifest)

    root = _copy_registry(registry, tmp_path)
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    holder = ModelHolder(root, "cross_encoder", load=load, load_nice=10)
    assert holder.refresh() and holder.version == "2"
    assert seen == [min(before + 10, 19)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
    bad = publish_toy_model(root, "cross_encoder", seed=9)
    (root / "cross_encoder" / bad / "model.onnx").write_bytes(b"truncated")
    assert not holder.refresh()
    assert holder.version == "2" and "sha256 of model.onnx" in holder.stats.last_error
    with holder.lease() as model:
        assert len(model.scorer.score(QUERY, TEXTS)) == 2
    holder.close()
