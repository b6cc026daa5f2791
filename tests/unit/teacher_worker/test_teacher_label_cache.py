"""The SQLite label cache: hits, misses, persistence across reopen."""

from __future__ import annotations

from pathlib import Path

from relstream.core.schemas import CotSteps, TeacherInfo, TeacherLabel, pair_key, utcnow
from teacher_worker.label_cache import LabelCache


def _label(query: str, item_id: str) -> TeacherLabel:
    return TeacherLabel(ts=utcnow(), event_id=f"{query}-{item_id}", query=query, item_id=item_id,
                        grade_probs={"E": 0.5, "S": 0.25, "C": 0.125, "I": 0.125},
                        steps=CotSteps(), teacher=TeacherInfo(model="t"))


def test_known_counts_hits_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    cache = LabelCache(path)
    a, b = pair_key("Red Shoes", "i1"), pair_key("blue", "i2")
    assert cache.known([a, b]) == set()
    cache.put([_label("red  shoes", "i1")])  # same pair key after normalisation
    assert cache.known([a, b, a]) == {a}
    assert (cache.hits, cache.misses) == (1, 3)
    assert cache.hit_rate == 0.25
    cache.close()
    reopened = LabelCache(path)
    assert len(reopened) == 1
    label = reopened.get(a)
    assert label is not None and label.grade == "E"
    assert reopened.get(b) is None


def test_many_keys_are_chunked(tmp_path: Path) -> None:
    cache = LabelCache(tmp_path / "c.sqlite")
    cache.put([_label("q", f"i{k}") for k in range(1200)])
    keys = [pair_key("q", f"i{k}") for k in range(1300)]
    assert len(cache.known(keys)) == 1200


def test_queries_lists_one_query_per_labelled_pair(tmp_path: Path) -> None:
    cache = LabelCache(tmp_path / "c.sqlite")
    cache.put([_label("red shoes", "a"), _label("red shoes", "b"), _label("tent", "a")])
    cache.put([_label("tent", "a")])  # the same pair again replaces its label
    assert sorted(cache.queries()) == ["red shoes", "red shoes", "tent"]
    cache.close()
