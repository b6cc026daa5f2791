"""The demo's plots: prequential AUC, A/B CTR over time and model freshness, per arm.

All three come from the server's own record of every scored request (scores, arm, model
version, time) and the feedback joined to it. Prequential AUC: each request was scored
before anything learned from it (test, then train), so the AUC of the served scores
against the world's ground truth (E vs the rest) within each request, averaged per time
bucket, is the prequential curve of each arm. Freshness: the served version over time,
and the age of the served model (time since its version was published) at each request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from relstream.core.schemas import Grade, normalize_query
from relstream.tools.demo.report import RequestRow

ARM_COLORS = {"frozen": "tab:blue", "continuous": "tab:orange"}


def _buckets(rows: Sequence[RequestRow], n: int) -> tuple[float, list[list[RequestRow]]]:
    t0 = min(r.t for r in rows)
    span = max(max(r.t for r in rows) - t0, 1e-9)
    out: list[list[RequestRow]] = [[] for _ in range(n)]
    for r in rows:
        out[min(int((r.t - t0) / span * n), n - 1)].append(r)
    return t0, out


def per_minute_buckets(rows: Sequence[RequestRow], min_buckets: int = 6) -> int:
    """Buckets of one minute each, or shorter when the experiment is too short for
    `min_buckets` minutes (the quick demo's lasts ~1.5 min)."""
    if not rows:
        return 1
    span = max(r.t for r in rows) - min(r.t for r in rows)
    return max(min_buckets, math.ceil(span / 60.0))


def _auc(rows: Sequence[RequestRow], grades: dict[tuple[str, str], Grade]) -> float:
    """Mean over requests of the AUC of the served scores (E vs the rest) within each
    request: ranking is per query, and a score scale that differs between queries must
    not count (a pooled AUC disagreed with NDCG@10 for exactly that reason)."""
    from student_trainer.evaluate import binary_auc

    aucs = []
    for r in rows:
        q = normalize_query(r.query)
        pairs = [(score, grades.get((q, item), "I"))
                 for item, score in zip(r.item_ids, r.scores, strict=False) if score is not None]
        auc = binary_auc([p[0] for p in pairs], [p[1] for p in pairs]) if pairs else math.nan
        if not math.isnan(auc):
            aucs.append(auc)
    return sum(aucs) / len(aucs) if aucs else math.nan


def _arms(rows: Sequence[RequestRow]) -> list[str]:
    return sorted({r.arm for r in rows}, key=lambda a: (a != "frozen", a))


def _series(rows: Sequence[RequestRow], t0: float, buckets: list[list[RequestRow]],
            value) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    xs, ys = [], []
    for b in buckets:
        if b:
            xs.append((sum(r.t for r in b) / len(b) - t0) / 60)
            ys.append(value(b))
    return xs, ys


def _per_arm_panels(rows: Sequence[RequestRow], path: Path, buckets: int,
                    value: Callable[[list[RequestRow]], float], what: str, ylabel: str,
                    show_n: bool) -> Path:
    """Two panels (the other queries, the new brand's) of `value` per time bucket, one line
    per arm: after the launch the frozen arm should fall on the brand's queries only."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, subset, title in ((axes[0], [r for r in rows if not r.new_brand], "other queries"),
                              (axes[1], [r for r in rows if r.new_brand], "new brand's queries")):
        if subset:
            t0, parts = _buckets(subset, buckets)
            for arm in _arms(subset):
                per = [[r for r in b if r.arm == arm] for b in parts]
                xs, ys = _series(subset, t0, [p for p in per if p], value)
                label = f"{arm} (n={sum(len(p) for p in per)})" if show_n else arm
                ax.plot(xs, ys, marker="o", label=label, color=ARM_COLORS.get(arm))
        ax.set_title(f"{what} — {title}")
        ax.set_xlabel("minutes into the experiment")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel(ylabel)
    return _save(fig, path)


def plot_prequential_auc(rows: Sequence[RequestRow], grades: dict[tuple[str, str], Grade],
                         path: Path, buckets: int | None = None) -> Path:
    """Per minute (`per_minute_buckets`) unless `buckets` says otherwise."""
    buckets = buckets or per_minute_buckets(rows)
    return _per_arm_panels(rows, path, buckets, lambda b: _auc(b, grades),
                           "prequential AUC per request (E vs rest)",
                           "mean per-request AUC of served scores vs truth", show_n=False)


def plot_ab_ctr(rows: Sequence[RequestRow], path: Path, buckets: int = 8) -> Path:
    return _per_arm_panels(rows, path, buckets, lambda b: sum(r.clicks for r in b) / len(b),
                           "A/B: clicks per search", "clicks per search (top 10)", show_n=True)


def plot_freshness(rows: Sequence[RequestRow], published: dict[str, float], path: Path
                   ) -> Path:
    """Served version per arm over time, and the served model's age at each request."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    if rows:
        t0 = min(r.t for r in rows)
        for arm in _arms(rows):
            mine = [r for r in rows if r.arm == arm]
            xs = [(r.t - t0) / 60 for r in mine]
            left.step(xs, [int(r.version) if r.version.isdigit() else 0 for r in mine],
                      where="post", label=arm, color=ARM_COLORS.get(arm))
            ages = [(r.t - published[r.version]) / 60 if r.version in published else math.nan
                    for r in mine]
            right.plot(xs, ages, ".", markersize=3, label=arm, color=ARM_COLORS.get(arm))
        for when in sorted(published.values()):
            if when >= t0:
                left.axvline((when - t0) / 60, color="gray", alpha=0.3, linewidth=0.8)
    left.set_title("served model version (gray: a version was published)")
    left.set_xlabel("minutes into the experiment")
    left.set_ylabel("version")
    left.legend()
    right.set_title("freshness: age of the served model")
    right.set_xlabel("minutes into the experiment")
    right.set_ylabel("minutes since the served version was published")
    right.legend()
    return _save(fig, path)


def plot_trainer_prequential(points_file: Path, path: Path, buckets: int = 8) -> Path | None:
    """The trainer's own test-then-train AUC on the teacher labels it consumed, in label
    order, against ground truth: all pairs and the new brand's (None without points)."""
    from student_trainer.evaluate import binary_auc
    from student_trainer.online.prequential import read_points_jsonl

    if not points_file.is_file():
        return None
    points = sorted((p for p in read_points_jsonl(points_file) if p.truth_grade is not None),
                    key=lambda p: p.seq)
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for brand_only, label in ((False, "all labelled pairs"), (True, "new brand's queries")):
        pts = [p for p in points if p.new_brand or not brand_only]
        size = max(1, math.ceil(len(pts) / buckets))
        chunks = [pts[i:i + size] for i in range(0, len(pts), size)]
        xs = [sum(p.seq for p in c) / len(c) for c in chunks]
        ys = [binary_auc([p.score for p in c], [p.truth_grade or "I" for p in c])
              for c in chunks]
        ax.plot(xs, ys, marker="o", label=f"{label} (n={len(pts)})")
    first = next((p.seq for p in points if p.new_brand), None)
    if first is not None:
        ax.axvline(first, color="gray", linestyle="--", label="first new-brand label")
    ax.set_title("continuous trainer: prequential AUC (each label scored before training)")
    ax.set_xlabel("teacher labels consumed")
    ax.set_ylabel("AUC vs ground truth (E vs rest)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def published_times(registry: Path, name: str) -> dict[str, float]:
    """Version → publish time (epoch seconds) from the registry's manifests."""
    from relstream.core.registry import list_versions, load_manifest

    out = {}
    for version in list_versions(registry, name):
        created = load_manifest(registry, name, version).created_at
        if created:
            out[version] = datetime.fromisoformat(created).timestamp()
    return out


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
