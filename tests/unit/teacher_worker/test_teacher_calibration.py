"""Calibration: fitting recovers a known temperature and bias, applying it is worked by hand,
the shipped file is found and tied to its adapter, and labels carry calibrated grades."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from relstream.core.schemas import GRADES, CatalogItem, LabelRequest, TeacherLabel, utcnow
from teacher_worker.backends.lexical_backend import LexicalTeacher
from teacher_worker.calibration import (
    CALIBRATION_FILE,
    Calibration,
    CalibrationError,
    fit_calibration,
    load_calibration,
    log_probs,
)


def _synthetic(n: int, temperature: float, bias: tuple[float, ...], seed: int = 0
               ) -> tuple[list[dict[str, float]], list[str]]:
    """A model's read-out softmax(z) and grades drawn from softmax(z / T + b): a model whose
    true calibration map is (T, b)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 4.0, size=(n, 4))
    raw = np.exp(z - z.max(axis=1, keepdims=True))
    raw /= raw.sum(axis=1, keepdims=True)
    true = np.exp(z / temperature + np.asarray(bias))
    true /= true.sum(axis=1, keepdims=True)
    y = [GRADES[int(rng.choice(4, p=row))] for row in true]
    return [dict(zip(GRADES, map(float, row), strict=True)) for row in raw], y


def test_a_known_temperature_is_recovered() -> None:
    probs, y = _synthetic(4000, 2.5, (0, 0, 0, 0))
    fitted = fit_calibration(probs, y, methods=("temperature",))  # type: ignore[arg-type]
    assert fitted.method == "temperature"
    assert fitted.temperature == pytest.approx(2.5, rel=0.08)
    assert fitted.bias == (0.0, 0.0, 0.0, 0.0)
    assert fitted.fit["nll_after"] < fitted.fit["nll_before"]
    assert fitted.fit["ece_after"] < fitted.fit["ece_before"]


def test_a_known_bias_is_recovered_and_the_selection_prefers_held_out_nll() -> None:
    probs, y = _synthetic(4000, 1.0, (0.0, -1.0, 0.5, 1.0), seed=1)
    fitted = fit_calibration(probs, y, methods=("identity", "temperature", "grade_bias"))  # type: ignore[arg-type]
    assert fitted.method == "grade_bias"
    assert fitted.temperature == 1.0
    assert fitted.bias == pytest.approx((0.0, -1.0, 0.5, 1.0), abs=0.15)
    held_out = fitted.fit["heldout_nll"]
    assert held_out["grade_bias"] == min(held_out.values())


def test_a_calibrated_model_keeps_the_identity() -> None:
    probs, y = _synthetic(2000, 1.0, (0, 0, 0, 0), seed=2)
    fitted = fit_calibration(probs, y, methods=("identity", "temperature"))  # type: ignore[arg-type]
    # Held-out NLL of T ≈ 1 and of the identity are near equal; either way nothing changes.
    assert fitted.temperature == pytest.approx(1.0, abs=0.08)


def test_apply_by_hand() -> None:
    p = {"E": 0.5, "S": 0.25, "C": 0.125, "I": 0.125}
    # T = 2 takes square roots: .7071, .5, .3536, .3536 (sum 1.9142) → normalised
    out = Calibration("temperature", 2.0).apply(p)
    assert [out[g] for g in GRADES] == pytest.approx([0.36940, 0.26120, 0.18470, 0.18470],
                                                     abs=1e-4)
    # b_S = ln 2 doubles S: .5, .5, .125, .125 (sum 1.25) → .4, .4, .1, .1
    out = Calibration("grade_bias", 1.0, (0.0, math.log(2), 0.0, 0.0)).apply(p)
    assert [out[g] for g in GRADES] == pytest.approx([0.4, 0.4, 0.1, 0.1])
    assert Calibration().apply(p) == p
    # A probability that underflowed to 0 stays finite (clipped in log space).
    out = Calibration("temperature", 3.0).apply({"E": 1.0, "S": 0.0, "C": 0.0, "I": 0.0})
    assert sum(out.values()) == pytest.approx(1.0) and out["S"] > 0
    assert log_probs([{"E": 1.0, "S": 0.0, "C": 0.0, "I": 0.0}]).min() > -math.inf


def test_json_round_trip_and_bad_values() -> None:
    c = Calibration("temperature_bias", 2.7, (0.0, -2.0, -0.8, -1.3), "abc", {"pairs": 200})
    assert Calibration.from_json(json.loads(json.dumps(c.to_json()))) == c
    with pytest.raises(CalibrationError, match="temperature"):
        Calibration("temperature", 0.0)
    with pytest.raises(CalibrationError, match="method"):
        Calibration("platt")  # type: ignore[arg-type]
    with pytest.raises(CalibrationError, match="not a calibration"):
        Calibration.from_json({"temperature": 2.0})
    with pytest.raises(CalibrationError, match="at least"):
        fit_calibration([{"E": 1.0, "S": 0.0, "C": 0.0, "I": 0.0}], ["E"])


def _built_model(tmp_path: Path, adapter: Path, digest: str) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "relstream_teacher.json").write_text(json.dumps(
        {"adapter": str(adapter), "adapter_sums_sha256": digest}))
    return model


def test_the_file_is_found_beside_the_model_or_its_adapter_and_tied_to_its_weights(
        tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    model = _built_model(tmp_path, adapter, "d1")
    assert load_calibration(model) is None
    Calibration("temperature", 2.0, adapter_sums_sha256="d1").save(adapter / CALIBRATION_FILE)
    found = load_calibration(model)  # a teacher built before the file shipped
    assert found is not None and found.temperature == 2.0
    Calibration("temperature", 3.0, adapter_sums_sha256="d1").save(model / CALIBRATION_FILE)
    found = load_calibration(model)  # the model's own copy wins
    assert found is not None and found.temperature == 3.0
    Calibration("temperature", 3.0, adapter_sums_sha256="other").save(model / CALIBRATION_FILE)
    assert load_calibration(model) is None  # fitted for other weights: never applied
    (model / CALIBRATION_FILE).write_text("{")
    with pytest.raises(CalibrationError, match="not JSON"):
        load_calibration(model)


def test_labels_carry_the_calibrated_distribution() -> None:
    item = CatalogItem(item_id="i1", title="Acme Red Running Shoe", category="Shoes > Running",
                       brand="Acme", attributes={"color": "red"})
    request = LabelRequest(ts=utcnow(), event_id="e1", query="red running shoe",
                           item_id="i1", item=item)
    teacher = LexicalTeacher()
    raw = teacher.judge([(request.query, item)])[0].grade_probs
    plain = teacher.label([request])[0]
    assert isinstance(plain, TeacherLabel) and plain.grade_probs == raw
    teacher.calibration = Calibration("temperature", 2.0)
    label = teacher.label([request])[0]
    assert isinstance(label, TeacherLabel)
    expected = Calibration("temperature", 2.0).apply(raw)
    assert label.grade_probs == pytest.approx(expected)
    assert max(label.grade_probs.values()) < max(raw.values())  # softened
    assert label.event_id == plain.event_id  # same teacher identity, same label id


def test_load_backend_applies_the_models_calibration_unless_off(tmp_path: Path,
                                                                tiny_dir: Path) -> None:
    from teacher_worker.backends import load_backend
    from teacher_worker.settings import TeacherSettings

    model = tmp_path / "model"
    shutil.copytree(tiny_dir, model)
    Calibration("temperature", 2.0).save(model / CALIBRATION_FILE)
    on = load_backend(TeacherSettings(teacher_backend="openai", teacher_model_dir=model))
    assert getattr(on, "calibration", None) == Calibration("temperature", 2.0)
    off = load_backend(TeacherSettings(teacher_backend="openai", teacher_model_dir=model,
                                       teacher_calibration="off"))
    assert getattr(off, "calibration", None) is None


def test_build_copies_the_adapters_calibration_into_an_already_built_teacher(
        tmp_path: Path) -> None:
    from teacher_worker.model_files import build_teacher, teacher_dir

    adapter = tmp_path / "ellm-test"
    adapter.mkdir()
    (adapter / "SHA256SUMS").write_text("")
    built = teacher_dir(tmp_path, adapter)
    built.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (built / name).write_text("{}")  # a complete build: nothing is merged again
    assert build_teacher(tmp_path, adapter) == built
    assert not (built / CALIBRATION_FILE).exists()
    Calibration("temperature", 2.0).save(adapter / CALIBRATION_FILE)
    build_teacher(tmp_path, adapter)
    assert (built / CALIBRATION_FILE).read_bytes() == (adapter / CALIBRATION_FILE).read_bytes()
