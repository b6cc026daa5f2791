"""Calibration of the teacher's grade distribution: a temperature and/or a per-grade bias on
its log-probabilities, fitted on a validation split and shipped beside the model.

The read-out softmaxes the four grade logits z; since log p = z − logsumexp(z), scaling
log p is scaling the logits: p' = softmax(log p / T + b). `T > 1` softens an
over-confident teacher; `b` (one bias per grade, `b_E` fixed at 0) moves mass between
grades. Candidates are compared by the negative log-likelihood of the true grade on
held-out folds of the validation split (in-sample NLL always prefers more parameters),
and the winner is refitted on the whole split.

The file (`calibration.json`) lives beside the adapter in `teacher_worker/weights/<name>/`
(outside `SHA256SUMS`, so adding it does not change the merged model's directory) and is
copied into the merged model directory by `relstream teacher build`. It names the
adapter checksums it was fitted for; a model built from other weights never uses it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from relstream.core.schemas import GRADES, Grade
from teacher_worker.errors import TeacherWorkerError

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"
Method = Literal["identity", "temperature", "grade_bias", "temperature_bias"]
METHODS: tuple[Method, ...] = ("identity", "temperature", "grade_bias", "temperature_bias")
GradeProbs = Mapping[Grade, float] | Mapping[str, float]
LOG_FLOOR = -50.0
"""Log-probabilities are clipped here: a read-out probability that underflowed to 0 must not
make the NLL infinite (a grade 22 nats below the top one is already ~1e-22)."""


class CalibrationError(TeacherWorkerError):
    """A calibration file is malformed, or fitting was given unusable data."""


@dataclass(frozen=True)
class Calibration:
    """p' = softmax(log p / temperature + bias), bias in `GRADES` order (E, S, C, I).

    `adapter_sums_sha256` names the adapter the calibration was fitted for (the digest of
    its `SHA256SUMS`; empty: any model); `fit` records how it was fitted.
    """

    method: Method = "identity"
    temperature: float = 1.0
    bias: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    adapter_sums_sha256: str = ""
    fit: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise CalibrationError(f"method {self.method!r}: expected one of {METHODS}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise CalibrationError(f"temperature {self.temperature!r}: expected a finite "
                                   "number > 0")
        if len(self.bias) != len(GRADES) or not all(math.isfinite(b) for b in self.bias):
            raise CalibrationError(f"bias {self.bias!r}: expected {len(GRADES)} finite numbers "
                                   f"in {GRADES} order")

    def apply_logp(self, logp: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of an (n, 4) array of grade log-probabilities."""
        z = np.maximum(np.asarray(logp, dtype=float), LOG_FLOOR) / self.temperature
        z = z + np.asarray(self.bias)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def apply(self, probs: GradeProbs) -> dict[Grade, float]:
        """One grade distribution → its calibrated distribution (same keys, sums to 1)."""
        if self.method == "identity":
            return {g: float(probs[g]) for g in GRADES}
        out = self.apply_logp(log_probs([probs]))[0]
        return {g: float(v) for g, v in zip(GRADES, out, strict=True)}

    def apply_many(self, probs: Sequence[GradeProbs]) -> list[dict[str, float]]:
        """`apply` over many distributions at once (evaluation)."""
        out = self.apply_logp(log_probs(probs)) if probs else np.zeros((0, len(GRADES)))
        return [{g: float(v) for g, v in zip(GRADES, row, strict=True)} for row in out]

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["bias"] = dict(zip(GRADES, self.bias, strict=True))
        return {"schema_version": 1, **row}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Calibration:
        try:
            bias = row.get("bias", {})
            return cls(method=row["method"], temperature=float(row.get("temperature", 1.0)),
                       bias=tuple(float(bias.get(g, 0.0)) for g in GRADES),  # type: ignore[arg-type]
                       adapter_sums_sha256=str(row.get("adapter_sums_sha256", "")),
                       fit=dict(row.get("fit", {})))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CalibrationError(f"not a calibration: {exc}; expected method, temperature "
                                   "and bias {E, S, C, I}") from exc

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path


def log_probs(probs: Sequence[GradeProbs]) -> np.ndarray:
    """(n, 4) log-probabilities in `GRADES` order, clipped at `LOG_FLOOR`."""
    p = np.array([[float(row[g]) for g in GRADES] for row in probs], dtype=float)
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), LOG_FLOOR)


def nll(calibration: Calibration, logp: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true grades `y` (indices into `GRADES`)."""
    p = calibration.apply_logp(logp)[np.arange(len(y)), y]
    return float(-np.log(np.maximum(p, 1e-300)).mean())


def _fit_one(method: Method, logp: np.ndarray, y: np.ndarray) -> Calibration:
    """The `method` calibration with least NLL on (logp, y)."""
    from scipy.optimize import minimize

    if method == "identity":
        return Calibration()

    # Parameters: log T (so T stays > 0) and/or the biases of S, C, I (b_E = 0: a shared
    # shift of all four biases does not change the softmax).
    has_t = method in ("temperature", "temperature_bias")
    has_b = method in ("grade_bias", "temperature_bias")

    def unpack(theta: np.ndarray) -> Calibration:
        t = math.exp(float(theta[0])) if has_t else 1.0
        b = [float(v) for v in theta[-3:]] if has_b else [0.0, 0.0, 0.0]
        return Calibration(method, t, (0.0, b[0], b[1], b[2]))

    def objective(theta: np.ndarray) -> float:
        # A small L2 penalty keeps the biases finite when a grade never occurs.
        penalty = 1e-4 * float(np.sum(theta[-3:] ** 2)) if has_b else 0.0
        return nll(unpack(theta), logp, y) + penalty

    bounds = [(-5.0, 5.0)] * has_t + [(-20.0, 20.0)] * (3 * has_b)
    result = minimize(objective, np.zeros(len(bounds)), method="L-BFGS-B", bounds=bounds)
    return unpack(result.x)


def fit_calibration(
    probs: Sequence[GradeProbs], truth: Sequence[Grade], *,
    methods: Sequence[Method] = METHODS, folds: int = 5, seed: int = 0,
    adapter_sums_sha256: str = "",
) -> Calibration:
    """Pick the method with least cross-validated NLL, refit it on all pairs.

    `probs` are the teacher's raw grade distributions on validation pairs, `truth` their
    grades. `fit` of the result holds each method's held-out NLL and the in-sample NLL and
    ECE before and after.
    """
    from teacher_worker.evaluate import expected_calibration_error

    if len(probs) != len(truth) or len(truth) < 2 * folds:
        raise CalibrationError(f"need equal numbers of distributions and grades, at least "
                               f"{2 * folds}; got {len(probs)} and {len(truth)}")
    logp = log_probs(probs)
    y = np.array([GRADES.index(g) for g in truth])
    fold_of = np.random.default_rng(seed).permutation(len(y)) % folds
    held_out: dict[str, float] = {}
    for method in methods:
        losses = []
        for k in range(folds):
            train, test = fold_of != k, fold_of == k
            losses.append(nll(_fit_one(method, logp[train], y[train]), logp[test], y[test])
                          * test.sum())
        held_out[method] = float(sum(losses) / len(y))
    best = min(methods, key=lambda m: (held_out[m], METHODS.index(m)))
    fitted = _fit_one(best, logp, y)

    def ece(c: Calibration) -> float:
        p = c.apply_logp(logp)
        return expected_calibration_error(p.max(axis=1), p.argmax(axis=1) == y)

    fit = {"pairs": len(y), "folds": folds, "heldout_nll": held_out,
           "nll_before": nll(Calibration(), logp, y), "nll_after": nll(fitted, logp, y),
           "ece_before": ece(Calibration()), "ece_after": ece(fitted)}
    return Calibration(best, fitted.temperature, fitted.bias, adapter_sums_sha256, fit)


def adapter_digest(model_dir: Path) -> str:
    """The adapter checksum digest a built teacher records (`relstream_teacher.json`), or ''."""
    meta = model_dir / "relstream_teacher.json"
    if not meta.is_file():
        return ""
    try:
        return str(json.loads(meta.read_text()).get("adapter_sums_sha256", ""))
    except (json.JSONDecodeError, AttributeError):
        return ""


def find_calibration(model_dir: Path) -> Path | None:
    """The calibration file that belongs to `model_dir`: its own `calibration.json`, else
    the one beside the adapter it was built from (a teacher built before the file shipped)."""
    own = model_dir / CALIBRATION_FILE
    if own.is_file():
        return own
    meta = model_dir / "relstream_teacher.json"
    if meta.is_file():
        try:
            adapter = Path(json.loads(meta.read_text()).get("adapter", ""))
        except (json.JSONDecodeError, AttributeError, TypeError):
            return None
        if (adapter / CALIBRATION_FILE).is_file():
            return adapter / CALIBRATION_FILE
    return None


def load_calibration(model_dir: Path) -> Calibration | None:
    """The calibration to apply to `model_dir`'s read-out, or None.

    A file fitted for other adapter weights than the model's is ignored with a warning:
    a temperature fitted on one model's logits means nothing for another's.
    """
    path = find_calibration(Path(model_dir))
    if path is None:
        return None
    try:
        calibration = Calibration.from_json(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{path}: not JSON: {exc}") from exc
    digest = adapter_digest(Path(model_dir))
    if calibration.adapter_sums_sha256 and digest and calibration.adapter_sums_sha256 != digest:
        log.warning("%s was fitted for adapter sums %s, the model in %s is %s: not applied",
                    path, calibration.adapter_sums_sha256[:12], model_dir, digest[:12])
        return None
    return calibration
