"""Shared fixtures: a tiny hand-made catalog with teacher labels, tiny random students."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relstream.core.schemas import CatalogItem, CotSteps, DimensionCheck, TeacherInfo, TeacherLabel
from student_trainer.data import Example, build_examples

_NOW = datetime(2026, 3, 1, tzinfo=UTC)

CATALOG = [
    CatalogItem(item_id="i1", title="Stride Runner 40 men's running shoe", category="Shoes",
                brand="Stride", attributes={"color": "black", "gender": "men", "size": "10"}),
    CatalogItem(item_id="i2", title="Stride Runner women's running shoe",
                category="Shoes", brand="Stride", attributes={"color": "red", "gender": "women"}),
    CatalogItem(item_id="i3", title="Running socks 3 pack", category="Socks",
                brand="Footly", attributes={"pack": "3"}),
    CatalogItem(item_id="i4", title="Ceramic coffee mug 350 ml", category="Kitchen > Mugs",
                brand="Brewco", attributes={"capacity": "350 ml", "color": "white"}),
    CatalogItem(item_id="i5", title="Travel mug stainless 500 ml", category="Kitchen > Mugs",
                brand="Brewco", attributes={"capacity": "500 ml", "material": "steel"}),
]

# (query, item, probs E/S/C/I, checks)
_ROWS = [
    ("black stride running shoes men", "i1", (0.9, 0.05, 0.03, 0.02),
     [("type", "match", ["running shoe"]), ("brand", "match", ["stride"]),
      ("color", "match", ["black"]), ("gender", "match", ["men's"])]),
    ("black stride running shoes men", "i2", (0.1, 0.7, 0.1, 0.1),
     [("type", "match", ["running shoe"]), ("color", "mismatch", ["red"]),
      ("gender", "mismatch", ["women's"])]),
    ("black stride running shoes men", "i3", (0.05, 0.05, 0.8, 0.1),
     [("type", "mismatch", ["socks"])]),
    ("black stride running shoes men", "i4", (0.01, 0.01, 0.03, 0.95),
     [("type", "mismatch", ["mug"]), ("shape", "not_stated", [])]),
    ("white coffee mug 350ml", "i4", (0.85, 0.1, 0.03, 0.02),
     [("type", "match", ["mug"]), ("color", "match", ["white"]),
      ("capacity", "match", ["350"])]),
    ("white coffee mug 350ml", "i5", (0.2, 0.6, 0.1, 0.1),
     [("type", "match", ["mug"]), ("color", "not_stated", []),
      ("capacity", "mismatch", ["500"])]),
    ("white coffee mug 350ml", "i1", (0.01, 0.01, 0.02, 0.96), [("type", "mismatch", ["shoe"])]),
    ("running socks", "i3", (0.92, 0.04, 0.02, 0.02), [("type", "match", ["socks"])]),
]


def make_labels() -> list[TeacherLabel]:
    labels = []
    for n, (query, item_id, probs, checks) in enumerate(_ROWS):
        steps = CotSteps(
            query_analysis={"type": query.split()[-2]},
            item_analysis={"type": item_id},
            checks=[DimensionCheck(dimension=d, status=s, evidence=e) for d, s, e in checks],
        )
        labels.append(TeacherLabel(
            ts=_NOW, event_id=f"e{n}", query=query, item_id=item_id,
            grade_probs=dict(zip("ESCI", probs, strict=True)),  # type: ignore[arg-type]
            steps=steps, teacher=TeacherInfo(model="hand-made"),
        ))
    return labels


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, above all on a CPU shared with others."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def labels() -> list[TeacherLabel]:
    return make_labels()


@pytest.fixture
def catalog() -> dict[str, CatalogItem]:
    return {item.item_id: item for item in CATALOG}


@pytest.fixture
def examples(labels: list[TeacherLabel], catalog: dict[str, CatalogItem]) -> list[Example]:
    return build_examples(labels, catalog)


@pytest.fixture
def data_dir(tmp_path: Path, labels: list[TeacherLabel]) -> Path:
    """catalog.jsonl, teacher_labels.jsonl, labels.jsonl (ground truth) and splits.json."""
    import json

    (tmp_path / "catalog.jsonl").write_text(
        "".join(item.model_dump_json() + "\n" for item in CATALOG))
    (tmp_path / "teacher_labels.jsonl").write_text(
        "".join(label.model_dump_json() + "\n" for label in labels))
    truth = [{"query": lb.query, "item_id": lb.item_id, "grade": lb.grade} for lb in labels]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(t) + "\n" for t in truth))
    queries = sorted({lb.query for lb in labels})
    splits = {"train": queries, "validation": queries[:2], "test": queries,
              "test_long_tail": queries[-1:]}
    (tmp_path / "splits.json").write_text(json.dumps(splits))
    return tmp_path
