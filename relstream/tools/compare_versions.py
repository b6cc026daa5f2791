"""Continuous vs frozen on a simulated world: prequential AUC over stream time, as a PNG.

Both students see the same teacher labels in stream order (the rule-based stand-in
teacher over every shown pair, stamped with its search's time). Until the world's
change (the new brand's launch) they are one and the same student, trained continuously;
at the change a copy is frozen and from then on only scores, while the other keeps
training. Every label is scored by both before the continuous one trains on it; AUC is
measured against the world's ground truth, overall and on the new brand's queries.
Runs in-process without Kafka, so the curve is reproducible from the world alone.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

from student_trainer.online.prequential import GroundTruth, PrequentialPoint, curve, summarise
from student_trainer.online.settings import OnlineSettings
from student_trainer.online.trainer import LabelRecord, OnlineTrainer

log = logging.getLogger(__name__)


def stream_labels(world_dir: Path, limit: int | None = None) -> list[Any]:
    """Teacher labels of every first-seen shown pair, stamped with its search's time."""
    from relstream.core.schemas import TeacherLabel
    from relstream.core.shop_files import load_catalog
    from relstream.tools.world_feed import label_requests
    from teacher_worker.backends.lexical_backend import LexicalTeacher

    catalog = load_catalog(world_dir)
    requests = [r.model_copy(update={"item": catalog.get(r.item_id)})
                for r in label_requests(world_dir, limit)]
    out = []
    for req, label in zip(requests, LexicalTeacher().label(requests), strict=True):
        if isinstance(label, TeacherLabel):  # the stand-in's CoT always parses; be safe
            out.append(label.model_copy(update={"ts": req.ts}))
    return out


def brand_eval_set(world_dir: Path, truth: GroundTruth) -> tuple[list[Any], list[str]]:
    """Every ground-truth pair of the new brand's queries, as examples, with its grade."""
    from relstream.core.shop_files import load_catalog, load_labels
    from student_trainer.pipeline import eval_example

    catalog = load_catalog(world_dir)
    pairs = [(q, i, g) for (q, i), g in sorted(load_labels(world_dir).items())
             if truth.is_new_brand(q) and i in catalog]
    return [eval_example(q, catalog[i]) for q, i, _ in pairs], [g for _, _, g in pairs]


def _fixed_auc(trainer: OnlineTrainer, examples: list[Any], grades: list[str]) -> float:
    from student_trainer.evaluate import binary_auc

    if not examples:
        return float("nan")
    logits = trainer.scorer.predict_logits(examples, trainer.tokenizer)
    return binary_auc(trainer.scorer.scores(logits).tolist(), grades)


def compare(world_dir: Path, settings: OnlineSettings, *, limit: int | None = None,
            chunk: int = 32, eval_every: int = 4, progress: bool = True) -> dict[str, Any]:
    """Prequential points of the continuous and the frozen student (see module doc), and
    every `eval_every` chunks both models' AUC on the fixed set of all the new brand's
    ground-truth pairs (`brand_fixed`: rows of stream time, continuous, frozen)."""
    from tqdm.auto import tqdm

    from relstream.core.shop_files import load_catalog
    from student_trainer.encoders import load_tokenizer

    truth = GroundTruth.from_world(world_dir)
    catalog = load_catalog(world_dir)
    labels = stream_labels(world_dir, limit)
    continuous = OnlineTrainer(settings, load_tokenizer(), truth=truth)
    continuous.init_fresh()
    kept: list[PrequentialPoint] = []
    continuous.all_points = kept
    frozen: OnlineTrainer | None = None
    fixed_x, fixed_y = brand_eval_set(world_dir, truth)
    brand_fixed: list[dict[str, Any]] = []
    starts = range(0, len(labels), chunk)
    for n_chunk, start in enumerate(tqdm(starts, desc="continuous vs frozen",
                                         disable=not progress)):
        batch = [LabelRecord(lb, "stream/0", start + k)
                 for k, lb in enumerate(labels[start:start + chunk])]
        if frozen is None and truth.change_at is not None and batch[0].label.ts >= truth.change_at:
            frozen = copy.deepcopy(continuous)
            frozen.all_points = []
            log.info("froze a copy at label %d (%s)", start, batch[0].label.ts)
        if frozen is not None:
            frozen.handle(batch, catalog, train=False)
        continuous.handle(batch, catalog)
        if n_chunk % eval_every == eval_every - 1 or start + chunk >= len(labels):
            auc = _fixed_auc(continuous, fixed_x, fixed_y)
            brand_fixed.append({"stream_ts": batch[-1].label.ts, "continuous": auc,
                                "frozen": _fixed_auc(frozen, fixed_x, fixed_y)
                                if frozen is not None else auc})
    after = [p for p in kept if truth.change_at is None or p.stream_ts >= truth.change_at]
    return {"continuous": kept, "continuous_after": after,
            "frozen": (frozen.all_points or []) if frozen else [], "brand_fixed": brand_fixed}


def plot(points: dict[str, Any], out: Path, *, change_at: Any = None,
         buckets: int = 8, title: str = "") -> dict[str, Any]:
    """Write the PNG (two panels: all queries, new-brand queries); returns the numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.4), sharey=True)
    numbers: dict[str, Any] = {}
    for ax, brand_only, name in ((axes[0], False, "all queries"),
                                 (axes[1], True, "new brand's queries")):
        for key, style in (("continuous", "-o"), ("frozen", "--s")):
            # the new brand has few pairs: fewer, larger buckets keep each AUC meaningful
            n = max(2, buckets // 3) if brand_only else buckets
            rows = curve(points[key], n, target="truth", new_brand_only=brand_only)
            numbers[f"{key} / {name}"] = [{**r, "start": str(r["start"]), "end": str(r["end"])}
                                          for r in rows]
            if rows:
                xs = [r["start"] + (r["end"] - r["start"]) / 2 for r in rows]
                label = ("continuously trained" if key == "continuous"
                         else "frozen at the launch")
                ax.plot(xs, [r["auc"] for r in rows], style, label=label)
        if change_at is not None:
            ax.axvline(change_at, color="grey", linestyle=":", label="new brand launches")
        ax.set_title(f"prequential AUC vs ground truth: {name}")
        ax.set_xlabel("stream time (search time of the labelled pair)")
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", rotation=30)
    ax = axes[2]
    fixed = points.get("brand_fixed") or []
    if fixed:
        xs = [r["stream_ts"] for r in fixed]
        ax.plot(xs, [r["continuous"] for r in fixed], "-o", label="continuously trained")
        ax.plot(xs, [r["frozen"] for r in fixed], "--s", label="frozen at the launch")
    if change_at is not None:
        ax.axvline(change_at, color="grey", linestyle=":", label="new brand launches")
    ax.set_title("AUC on all the new brand's pairs (fixed set)")
    ax.set_xlabel("stream time (model as of then)")
    ax.grid(alpha=0.3)
    ax.tick_params(axis="x", rotation=30)
    numbers["brand_fixed"] = [{**r, "stream_ts": str(r["stream_ts"])} for r in fixed]
    axes[0].set_ylabel("AUC (E vs rest) against ground truth")
    axes[2].legend(loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    for key in ("continuous_after", "frozen"):
        for brand_only in (False, True):
            pts = [p for p in points[key] if p.new_brand or not brand_only]
            numbers[f"after launch {key} {'new-brand' if brand_only else 'all'}"] = summarise(pts)
    out.with_suffix(".json").write_text(json.dumps(numbers, indent=1, default=str))
    return numbers
