"""One contract suite run over both students (tiny random encoders, seconds each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from student_trainer.config import LossWeights, TrainConfig
from student_trainer.data import Example
from student_trainer.encoders import load_tokenizer
from student_trainer.export import export_student, tiny_config
from student_trainer.factory import build_student, load_checkpoint
from student_trainer.onnx_predict import ort_session
from student_trainer.student_base import Student
from student_trainer.train_offline import train_steps

KINDS = ("cross_encoder", "two_tower")
FULL = LossWeights(ce=0.5, kd=0.5, dim=0.5, attn=0.5, emb=0.5)
STEPS_CONFIG = TrainConfig(batch_size=4, seed=3, lr=1e-3)


def _student(kind: str, seed: int = 0) -> Student:
    torch.manual_seed(seed)
    return build_student(tiny_config(kind))


@pytest.mark.parametrize("kind", KINDS)
def test_seeded_runs_reproduce(kind: str, examples: list[Example]) -> None:
    runs = []
    for _ in range(2):
        student = _student(kind)
        losses = train_steps(student, load_tokenizer(), examples, FULL, STEPS_CONFIG, steps=3)
        runs.append((losses, student.state_dict()))
    assert runs[0][0] == runs[1][0]
    for name, value in runs[0][1].items():
        assert torch.equal(value, runs[1][1][name]), name


@pytest.mark.parametrize("kind", KINDS)
def test_training_lowers_the_loss(kind: str, examples: list[Example]) -> None:
    student = _student(kind)
    losses = train_steps(student, load_tokenizer(), examples, FULL,
                         TrainConfig(batch_size=8, seed=0, lr=3e-3, head_lr=3e-3), steps=25)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


@pytest.mark.parametrize("kind", KINDS)
def test_state_round_trips_through_a_checkpoint(kind: str, examples: list[Example],
                                                tmp_path: Path) -> None:
    student = _student(kind)
    train_steps(student, load_tokenizer(), examples, FULL, STEPS_CONFIG, steps=2)
    student.eval()
    path = tmp_path / "student.pt"
    torch.save(student.checkpoint(note="x"), path)
    loaded, ckpt = load_checkpoint(str(path))
    assert ckpt["note"] == "x" and loaded.config == student.config
    tok = load_tokenizer()
    assert torch.equal(student.predict_logits(examples, tok), loaded.predict_logits(examples, tok))


@pytest.mark.parametrize("kind", KINDS)
def test_the_batch_is_not_mutated(kind: str, examples: list[Example]) -> None:
    student = _student(kind)
    batch = student.make_batch(examples, load_tokenizer(), FULL)
    before = {k: v.clone() for k, v in batch.items()}
    loss, _ = student.loss(batch, FULL)
    loss.backward()
    assert batch.keys() == before.keys()
    for name, value in before.items():
        assert torch.equal(batch[name], value), name


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_matches_torch_on_real_batches(kind: str, examples: list[Example],
                                           tmp_path: Path) -> None:
    student = _student(kind)
    tok = load_tokenizer()
    manifest = export_student(student, tok, tmp_path)
    batch = student.make_batch(examples, tok)
    with torch.no_grad():
        expected = student(batch)["logits"].numpy()
    if kind == "cross_encoder":
        session = ort_session(tmp_path / manifest.graphs["scorer"])
        got = session.run(None, {n: batch[n].numpy() for n in manifest.inputs["scorer"]})[0]
    else:
        q = ort_session(tmp_path / manifest.graphs["query_tower"]).run(None, {
            "input_ids": batch["q_input_ids"].numpy(),
            "attention_mask": batch["q_attention_mask"].numpy()})[0]
        i = ort_session(tmp_path / manifest.graphs["item_tower"]).run(None, {
            "input_ids": batch["i_input_ids"].numpy(),
            "attention_mask": batch["i_attention_mask"].numpy()})[0]
        got = ort_session(tmp_path / manifest.graphs["head"]).run(
            None, {"query_embedding": q, "item_embedding": i})[0]
    assert np.max(np.abs(got - expected)) <= 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_zero_weights_change_nothing_else(kind: str, examples: list[Example]) -> None:
    student = _student(kind).eval()  # no dropout: terms are comparable across calls
    tok = load_tokenizer()
    base = LossWeights(ce=0.5, kd=0.5)
    lean = student.make_batch(examples, tok, base)
    assert "evidence_mask" not in lean and "cq_input_ids" not in lean  # no cost when off
    total, terms = student.loss(lean, base)
    assert set(terms) == {"ce", "kd"}
    assert total.item() == pytest.approx(0.5 * terms["ce"] + 0.5 * terms["kd"], abs=1e-6)
    full_batch = student.make_batch(examples, tok, FULL)
    _, full_terms = student.loss(full_batch, FULL)
    extra = "attn" if kind == "cross_encoder" else "emb"
    assert set(full_terms) == {"ce", "kd", "dim", extra}
    assert full_terms["ce"] == pytest.approx(terms["ce"], abs=1e-6)
    assert full_terms["kd"] == pytest.approx(terms["kd"], abs=1e-6)
    # A term switched back to 0 disappears again and the others are untouched.
    _, again = student.loss(full_batch, LossWeights(ce=0.5, kd=0.5, dim=0.0, attn=0.0, emb=0.0))
    assert again == pytest.approx(terms, abs=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_scores_lie_in_unit_interval_and_follow_p_exact(kind: str) -> None:
    student = _student(kind)
    logits = torch.tensor([[5.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0]])
    scores = student.scores(logits)
    assert ((scores >= 0) & (scores <= 1)).all() and scores[0] > scores[1]
