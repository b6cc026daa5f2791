"""`relstream teacher label`: a world's pairs labelled offline, resumable after a kill."""

from __future__ import annotations

from pathlib import Path

import pytest

from relstream.core.schemas import pair_key
from student_trainer.data import read_teacher_labels
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.label_offline import (
    done_pairs,
    failures_path,
    label_world,
    parse_split_limits,
    world_pairs,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate

    return simulate(SimConfig(out=tmp_path_factory.mktemp("world"), seed=4, items=120,
                              days=1, searches=150))


@pytest.fixture(scope="module")
def backend(tiny_format_dir: Path):  # type: ignore[no-untyped-def]
    from teacher_worker.backends.transformers_backend import TransformersBackend

    return TransformersBackend(tiny_format_dir, device="cpu", gen_batch=8, max_new_tokens=96)


def test_split_limits_parse_and_reject_bad_counts() -> None:
    assert parse_split_limits("test:40, train:100,validation") == {
        "test": 40, "train": 100, "validation": 0}
    with pytest.raises(TeacherWorkerError, match="NAME:COUNT"):
        parse_split_limits("train:many")
    with pytest.raises(TeacherWorkerError, match="no splits"):
        parse_split_limits(" , ")


def test_unknown_split_is_named(world: Path) -> None:
    with pytest.raises(TeacherWorkerError, match="no split 'dev'"):
        world_pairs(world, {"dev": 5}, seed=0)


def test_labels_every_sampled_pair_once_and_resumes_after_a_kill(
    world: Path, backend, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    limits = {"test": 12, "train": 20}
    wanted = {pair_key(q, i) for _, q, i in world_pairs(world, limits, seed=0)}
    assert len(wanted) == 32
    out = tmp_path / "labels.jsonl"

    first = label_world(backend, world, out, {"test": 12}, batch=8, progress=False)
    assert first["labelled"] + first["failed"] == 12
    # A kill mid-write: the last line is torn.
    with out.open("a") as fh:
        fh.write('{"type": "teacher_label", "query": "half a li')
    second = label_world(backend, world, out, limits, batch=8, progress=False)
    assert second["skipped_already_done"] == 12
    assert second["labelled"] + second["failed"] == 20

    labels = read_teacher_labels(out)  # every line parses: the torn one was dropped
    keys = [label.pair_key for label in labels]
    assert len(keys) == len(set(keys)), "a pair was labelled twice"
    failed = done_pairs(out) - set(keys)
    assert set(keys) | failed == wanted
    assert len(labels) >= 24, f"the format model should parse nearly always: {second}"
    for label in labels:
        assert abs(sum(label.grade_probs.values()) - 1) < 1e-3
        assert label.steps.query_analysis and label.raw_cot
    if failed:
        assert "unparsable" in failures_path(out).read_text()
    # Everything done: a third run labels nothing.
    third = label_world(backend, world, out, limits, batch=8, progress=False)
    assert third["labelled"] == third["failed"] == 0
