"""SFT data masking, config validation, a 2-step LoRA run, resume, and a loadable output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relstream.core.cot import render_cot
from relstream.core.schemas import CatalogItem, CotSteps, DimensionCheck
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.sft import SftConfig, merge_adapter, train_sft
from teacher_worker.sft_data import IGNORE, build_examples, mixture_examples, read_annotations

CATALOG = {
    f"i{k}": CatalogItem(item_id=f"i{k}", title=f"Acme {c} mug", category="Kitchen > Mugs",
                         brand="Acme", attributes={"color": c})
    for k, c in enumerate(["red", "blue", "green"])
}


def _rows() -> list[dict]:  # type: ignore[type-arg]
    rows = []
    for k, color in enumerate(["red", "blue", "green"]):
        grade = "E" if color == "red" else "S"
        steps = CotSteps(query_analysis={"type": "mug", "color": "red"},
                         item_analysis={"type": "mug", "color": color},
                         checks=[DimensionCheck(dimension="color",
                                                status="match" if grade == "E" else "mismatch",
                                                evidence=["red", color])], grade=grade)
        rows.append({"query": "red mug", "item_id": f"i{k}", "grade": grade,
                     "split": "train" if k < 2 else "test", "cot": render_cot(steps)})
    return rows


def _write(path: Path, rows: list[dict]) -> Path:  # type: ignore[type-arg]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_read_annotations_filters_splits_and_rejects_broken_cots(tmp_path: Path) -> None:
    path = _write(tmp_path / "cot.jsonl", _rows())
    assert len(read_annotations(path)) == 2
    assert len(read_annotations(path, splits=None)) == 3
    bad = _write(tmp_path / "bad.jsonl", [{"query": "q", "item_id": "i0", "cot": "Grade: E"}])
    with pytest.raises(TeacherWorkerError, match="bad.jsonl:1"):
        read_annotations(bad)


def test_loss_only_on_answer_tokens(tokenizer) -> None:  # type: ignore[no-untyped-def]
    (example,) = build_examples(tokenizer, _rows()[:1], CATALOG)
    answer = tokenizer(_rows()[0]["cot"] + tokenizer.eos_token,
                       add_special_tokens=False).input_ids
    n_prompt = len(example.input_ids) - len(answer)
    assert example.labels[:n_prompt] == [IGNORE] * n_prompt
    assert example.labels[n_prompt:] == answer == example.input_ids[n_prompt:]
    assert answer[-1] == tokenizer.eos_token_id


def test_a_mixture_reads_each_world_against_its_own_catalog(
        tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    worlds = []
    for name, maker in (("shop_a", "Acme"), ("shop_b", "Zorbo")):
        world = tmp_path / name
        world.mkdir()
        # The same item ids in both shops, other items: each must come from its own catalog.
        (world / "catalog.jsonl").write_text("".join(
            item.model_copy(update={"title": item.title.replace("Acme", maker), "brand": maker})
            .model_dump_json() + "\n" for item in CATALOG.values()))
        _write(world / "cot_annotations.jsonl", _rows())
        worlds.append(world)
    examples = mixture_examples(tokenizer, worlds)
    assert len(examples) == 4  # two train rows per world
    texts = [tokenizer.decode(e.input_ids) for e in examples]
    shops = [("Acme" in t, "Zorbo" in t) for t in texts]
    assert shops == [(True, False)] * 2 + [(False, True)] * 2
    assert len(mixture_examples(tokenizer, worlds, max_examples=1)) == 2  # per world
    with pytest.raises(TeacherWorkerError, match="one world"):
        mixture_examples(tokenizer, worlds, annotations=worlds[0] / "cot_annotations.jsonl")


def test_config_is_validated() -> None:
    with pytest.raises(TeacherWorkerError, match="lora_dropout"):
        SftConfig(lora_dropout=1.5)
    with pytest.raises(TeacherWorkerError, match="max_steps"):
        SftConfig(max_steps=0)


def test_short_run_resumes_and_saves_a_loadable_model(tmp_path: Path, tiny_dir: Path,
                                                      tokenizer) -> None:  # type: ignore[no-untyped-def]
    examples = build_examples(tokenizer, _rows(), CATALOG)
    out = tmp_path / "sft"
    config = SftConfig(max_steps=2, batch_size=2, save_every=1, lora_r=4, lora_alpha=8)
    first = train_sft(tiny_dir, examples, out, config, progress=False, device="cpu")
    assert first["steps"] == 2 and len(first["last_losses"]) == 2
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    more = SftConfig(max_steps=3, batch_size=2, save_every=1, lora_r=4, lora_alpha=8)
    second = train_sft(tiny_dir, examples, out, more, progress=False, device="cpu")
    assert second["steps"] == 3 and len(second["last_losses"]) == 1  # resumed at step 2

    from teacher_worker.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(out, device="cpu", max_new_tokens=4)
    (judgement,) = backend.judge([("red mug", CATALOG["i0"])])
    assert sum(judgement.grade_probs.values()) == pytest.approx(1.0)
    merged = merge_adapter(tiny_dir, out / "checkpoints" / "step-3", tmp_path / "merged")
    assert (merged / "model.safetensors").is_file()


def test_decision_tokens_get_the_decision_weight(tokenizer) -> None:  # type: ignore[no-untyped-def]
    from teacher_worker.sft_data import decision_spans

    cot = _rows()[1]["cot"]  # ... Checks: color=mismatch[red, blue]\nGrade: S
    spans = decision_spans(cot)
    assert [cot[a:b] for a, b in spans] == ["mismatch", "S"]
    (plain,) = build_examples(tokenizer, _rows()[1:2], CATALOG)
    (weighted,) = build_examples(tokenizer, _rows()[1:2], CATALOG, decision_weight=5.0)
    assert plain.weights is None and weighted.input_ids == plain.input_ids
    assert weighted.weights is not None
    heavy = [tokenizer.decode([t]) for t, w in zip(weighted.input_ids, weighted.weights,
                                                   strict=True) if w == 5.0]
    assert "".join(heavy).replace(" ", "") == "mismatchS"
    n_prompt = plain.labels.count(IGNORE)
    assert weighted.weights[:n_prompt] == [0.0] * n_prompt
    assert set(weighted.weights[n_prompt:]) == {1.0, 5.0}


def test_weighted_token_loss_by_hand() -> None:
    import math

    import torch

    from teacher_worker.sft import weighted_token_loss

    # Vocabulary of 2; logits at positions 0 and 1 predict tokens 1 and 2 of the labels.
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [0.0, 0.0]]])
    labels = torch.tensor([[-100, 1, 0]])
    weights = torch.tensor([[0.0, 1.0, 3.0]])
    # CE(pos 0 → label 1) = ln 2; CE(pos 1 → label 0) = -ln(3/4) = ln(4/3).
    want = (1 * math.log(2) + 3 * math.log(4 / 3)) / 4
    assert weighted_token_loss(logits, labels, weights).item() == pytest.approx(want, rel=1e-6)
    # Equal weights give the plain token mean, as the model's own loss does.
    even = weighted_token_loss(logits, labels, torch.tensor([[0.0, 1.0, 1.0]])).item()
    assert even == pytest.approx((math.log(2) + math.log(4 / 3)) / 2, rel=1e-6)
