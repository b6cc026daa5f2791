"""`relstream bench mkd-search`: MKD loss weights chosen on validation only.

The ablation's presets (`LossWeights.preset`) fix the CoT and score weights a priori. This
search picks them per student from a small grid, by how well the trained student
reproduces the teacher on the validation split: `val_teacher_auc` (its score ranking the
pairs the teacher calls Exact above the rest), ties broken by the lower soft
cross-entropy. It trains on the train split's teacher labels and never loads a
ground-truth grade or a test pair, so nothing in the choice has seen the test.

The search is coordinate-wise, in the order the terms were added to the method:
1. `cot`: CE + dim·(dimension heads) + align·(attention alignment for the cross-encoder,
   CoT-embedding alignment for the two-tower), over `DIM_GRID` × `ALIGN_GRID`;
2. `full`: the chosen CoT weights plus score distillation α·CE + (1−α)·T²·KL with α = 0.5,
   over `TEMPERATURE_GRID`.
`relstream bench mkd --searched FILE` then trains presets written `cot@searched` /
`full@searched` with the chosen weights beside the fixed-default ones.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from student_trainer.config import LossWeights, StudentConfig, TrainConfig

if TYPE_CHECKING:
    from student_trainer.pipeline import Dataset

log = logging.getLogger(__name__)

DIM_GRID = (0.1, 0.5, 1.0)
ALIGN_GRID = (0.1, 0.5)
TEMPERATURE_GRID = (1.0, 2.0, 4.0)
ALPHA = 0.5
SEARCHED = "@searched"
"""Suffix of a preset whose weights come from a search file (`full@searched`)."""


def align_term(kind: str) -> str:
    """The CoT alignment term each student has: attention (cross-encoder), embedding (two-tower)."""
    return "attn" if kind == "cross_encoder" else "emb"


def cot_candidates(kind: str) -> list[LossWeights]:
    align = align_term(kind)
    return [LossWeights(ce=1.0, dim=dim, **{align: a}) for dim in DIM_GRID for a in ALIGN_GRID]


def full_candidates(kind: str, cot: LossWeights) -> list[LossWeights]:
    align = align_term(kind)
    return [LossWeights(ce=ALPHA, kd=1 - ALPHA, temperature=t, dim=cot.dim,
                        **{align: getattr(cot, align)}) for t in TEMPERATURE_GRID]


def better(a: dict[str, float], b: dict[str, float] | None) -> bool:
    """Is validation result `a` better than `b`: higher teacher AUC, then lower soft CE."""
    if b is None:
        return True

    def key(m: dict[str, float]) -> tuple[float, float]:
        auc, ce = m.get("val_teacher_auc", math.nan), m.get("val_soft_ce", math.nan)
        return (auc if math.isfinite(auc) else -math.inf, -ce if math.isfinite(ce) else -math.inf)

    return key(a) > key(b)


def _short(weights: LossWeights, kind: str) -> dict[str, Any]:
    """The weights the grid moves, the same columns for both students (T only with KD)."""
    align = align_term(kind)
    return {"ce": weights.ce, "kd": weights.kd,
            "temperature": weights.temperature if weights.kd else None,
            "dim": weights.dim, "align_term": align, "align": getattr(weights, align)}


def search(args: argparse.Namespace) -> dict[str, Any]:
    """Train every candidate once (seed `args.seed`) per student; return the candidates'
    validation metrics and the chosen weights per student and preset."""
    from student_trainer.config import student_config_from, train_config_from
    from student_trainer.encoders import load_tokenizer
    from student_trainer.pipeline import load_dataset

    # Sample seed 0, as `bench mkd --seeds 0-…` draws its training sample (`--max-train`);
    # `args.seed` sets the initialisation and batch order of every candidate.
    ds = load_dataset(args.data, args.labels, max_train=args.max_train, seed=0,
                      with_eval=False)
    train_config = train_config_from(args)
    tokenizer = load_tokenizer(args.weights or None)  # both students use MiniLM's
    candidates: list[dict[str, Any]] = []
    chosen: dict[str, dict[str, dict[str, float]]] = {}
    for kind in args.kinds.split(","):
        config = student_config_from(argparse.Namespace(**{**vars(args), "kind": kind}))
        trial = _Trial(config, tokenizer, ds, train_config)
        cot = _best(kind, "cot", cot_candidates(kind), trial, candidates)
        full = _best(kind, "full", full_candidates(kind, cot), trial, candidates)
        chosen[kind] = {"cot": cot.to_dict(), "full": full.to_dict()}
    return {"candidates": candidates, "chosen": chosen, "dataset": ds.describe()}


class _Trial:
    """Trains one student from the same seed with given weights; returns its validation."""

    def __init__(self, config: StudentConfig, tokenizer: Any, ds: Dataset,
                 train_config: TrainConfig) -> None:
        self.config, self.tokenizer, self.ds, self.train_config = (
            config, tokenizer, ds, train_config)

    def __call__(self, weights: LossWeights) -> dict[str, float]:
        import torch

        from student_trainer.factory import build_student
        from student_trainer.train_offline import train_offline

        torch.manual_seed(self.train_config.seed)
        student = build_student(self.config, tokenizer=self.tokenizer)
        started = time.monotonic()
        result = train_offline(student, self.tokenizer, self.ds.train, self.ds.validation,
                               weights, self.train_config, progress=True)
        return {**{k: result.best_metrics[k] for k in
                   ("val_teacher_auc", "val_soft_ce", "val_teacher_acc", "step")},
                "train_s": round(time.monotonic() - started, 1)}


def _best(kind: str, preset: str, grid: list[LossWeights], trial: _Trial,
          candidates: list[dict[str, Any]]) -> LossWeights:
    """Train each candidate, record it in `candidates` (the best with `chosen` True),
    return the best on validation."""
    best: tuple[dict[str, Any], LossWeights] | None = None
    for weights in grid:
        log.info("mkd-search: %s %s %s", kind, preset, _short(weights, kind))
        metrics = trial(weights)
        row = {"student": kind, "preset": preset, **_short(weights, kind), **metrics,
               "chosen": False}
        candidates.append(row)
        print(json.dumps(row), flush=True)
        if better(metrics, best[0] if best else None):
            best = (row, weights)
    assert best is not None, "empty grid"
    best[0]["chosen"] = True
    log.info("mkd-search: %s %s chose %s", kind, preset, _short(best[1], kind))
    return best[1]


def run(args: argparse.Namespace) -> int:
    from relstream.core.reporting import save_results

    found = search(args)
    rows = found["candidates"]
    notes = (
        f"Loss weights chosen on validation only: {found['dataset']['train']} training / "
        f"{found['dataset']['validation']} validation teacher labels, seed {args.seed}, no "
        f"ground truth or test pair loaded. Criterion: val_teacher_auc (the student's score, "
        f"teacher-Exact vs rest on validation), ties by lower val_soft_ce. Grid: cot = CE + "
        f"dim {list(DIM_GRID)} x alignment {list(ALIGN_GRID)}; full = the chosen cot weights "
        f"+ α·CE + (1−α)·T²·KL, α = {ALPHA}, T {list(TEMPERATURE_GRID)}. Students: MiniLM "
        f"first {args.layers} layers, max_length {args.max_length}, {args.epochs} epoch(s), "
        f"batch {args.batch_size}, lr {args.lr}; best step by validation soft CE."
    )
    save_results("mkd-search", rows, args.out, command="relstream " + " ".join(sys.argv[1:]),
                 notes=notes, extra={"chosen": found["chosen"], "dataset": found["dataset"]})
    return 0


def load_searched(path: Path) -> dict[str, dict[str, LossWeights]]:
    """`chosen` of a mkd-search.json: student → preset → weights."""
    from student_trainer.errors import StudentTrainerError

    try:
        chosen = json.loads(Path(path).read_text())["chosen"]
        return {kind: {preset: LossWeights.from_dict(w) for preset, w in presets.items()}
                for kind, presets in chosen.items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StudentTrainerError(f"{path}: not a mkd-search result ({exc})") from exc


def weights_for(preset: str, kind: str,
                searched: dict[str, dict[str, LossWeights]] | None) -> LossWeights:
    """A preset's weights: the fixed defaults, or for `NAME@searched` the search's choice."""
    from student_trainer.errors import StudentTrainerError

    if not preset.endswith(SEARCHED):
        return LossWeights.preset(preset)
    name = preset.removesuffix(SEARCHED)
    if searched is None:
        raise StudentTrainerError(f"preset {preset!r} needs --searched FILE (mkd-search.json)")
    try:
        return searched[kind][name]
    except KeyError:
        raise StudentTrainerError(f"the search file chose no {name!r} weights for {kind}; it "
                                  f"has {({k: sorted(v) for k, v in searched.items()})}") from None
