"""`teacher annotate` without a server: the self-consistency verdict and its reasons, the
splits of a shop with catalog.jsonl and labels.jsonl only, failing fast before any call
on a missing file or an unreachable annotator, and resuming past a torn line. The route
through a real `vllm serve` is tests/integration/test_teacher_annotate_sft.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relstream.core.errors import ShopFileError
from relstream.core.schemas import CatalogItem
from relstream.core.shop_files import split_of_query
from teacher_worker.annotate import _done, annotate_pairs, rejected_path, shop_splits, verdict
from teacher_worker.annotator_client import annotation_messages
from teacher_worker.errors import TeacherUnavailableError, TeacherWorkerError
from teacher_worker.settings import TeacherSettings

ITEM = CatalogItem(item_id="i1", title="Acme red mug", category="Kitchen > Mugs")
COT = "Query: type=mug; color=red\nItem: type=mug; color=red\nChecks: color=match[red]\n"
UNREACHABLE = "http://127.0.0.1:9/v1"  # the discard port: connection refused


def test_verdict_keeps_with_k_agreeing_and_names_the_reason_otherwise() -> None:
    e, s = COT + "Grade: E", COT + "Grade: S"
    kept = verdict([s, e, "junk", e], "E", k=2)
    assert kept.steps is not None and kept.steps.grade == "E" and kept.reason is None
    assert kept.sample_grades == ["S", "E", None, "E"]
    disagree = verdict([s, e, "junk"], "E", k=2)
    assert disagree.steps is None and disagree.reason == "disagree"
    no_parse = verdict(["junk", "Grade: E"], "E", k=1)
    assert no_parse.steps is None and no_parse.reason == "no_parse"
    assert no_parse.sample_grades == [None, None]


def test_annotator_sees_the_human_grade() -> None:
    system, user = annotation_messages("red mug", ITEM, "C")
    assert system["role"] == "system" and "Grade:" in system["content"]
    assert user["content"].startswith("Query: red mug\nItem: ")
    assert "The correct grade is C (complement)" in user["content"]


def _shop(folder: Path, *, labels: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog.jsonl").write_text(ITEM.model_dump_json() + "\n")
    if labels:
        queries = [f"red mug {k}" for k in range(30)]
        (folder / "labels.jsonl").write_text("".join(
            json.dumps({"query": q, "item_id": ITEM.item_id, "grade": "E"}) + "\n"
            for q in queries))
    return folder


def test_contract_only_shop_is_split_by_query_hash(tmp_path: Path) -> None:
    queries = {f"red mug {k}" for k in range(30)}
    splits = shop_splits(_shop(tmp_path / "shop"), queries)
    for name in ("train", "validation", "test"):
        assert all(split_of_query(q) == name for q in splits[name])
    assert sorted(q for name in ("train", "validation", "test") for q in splits[name]) == sorted(
        queries)
    (tmp_path / "shop" / "splits.json").write_text(json.dumps(
        {"train": ["red mug 1"], "validation": [], "test": []}))
    assert shop_splits(tmp_path / "shop", queries)["train"] == ["red mug 1"]


def test_fails_fast_before_any_call(tmp_path: Path) -> None:
    settings = TeacherSettings(teacher_openai_url=UNREACHABLE)
    out = tmp_path / "cot.jsonl"
    with pytest.raises(ShopFileError, match="labels.jsonl not found"):
        annotate_pairs(settings, _shop(tmp_path / "nolabels", labels=False), out)
    with pytest.raises(TeacherWorkerError, match="not a directory"):
        annotate_pairs(settings, tmp_path / "absent", out)
    with pytest.raises(TeacherWorkerError, match="k=3, n=2"):
        annotate_pairs(settings, _shop(tmp_path / "shop"), out, n=2, k=3)
    # The files are fine: the annotator is asked for its models before any pair is sent.
    with pytest.raises(TeacherUnavailableError, match="RELSTREAM_TEACHER_OPENAI_URL"):
        annotate_pairs(settings, tmp_path / "shop", out)
    assert not out.exists()


def test_resume_drops_a_torn_last_line(tmp_path: Path) -> None:
    out = tmp_path / "cot.jsonl"
    out.write_text(json.dumps({"query": "Red Mug", "item_id": "i1"}) + "\n" + '{"query": "bl')
    rejected_path(out).write_text(json.dumps({"query": "blue mug", "item_id": "i2"}) + "\n")
    done = _done(out)
    assert len(done) == 2
    assert out.read_text().count("\n") == 1 and out.read_text().endswith("\n")
