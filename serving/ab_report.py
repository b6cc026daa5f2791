"""`relstream ab-report`: per-arm metrics of an experiment, differences, Welch tests, CUPED.

The aggregates come from ClickHouse (`serving.ab_sql`); Python only turns (mean,
variance, n) into Welch t-tests and confidence intervals, applies CUPED with the pooled
θ = cov(X, Y) / var(X), and draws the chart. Every comparison is arm vs the baseline arm
(the first arm by name unless given). The unit is one search (request).
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scipy import stats

from relstream.core.clickhouse import LockedClient
from relstream.core.schemas import ESCI_GAINS, normalize_query
from serving.ab_sql import report_sql
from serving.errors import ServingError

METRICS = ("clicks_per_search", "purchases_per_search", "ndcg@10", "latency_ms")
_COLUMN = {"clicks_per_search": "clicks", "purchases_per_search": "purchases",
           "ndcg@10": "ndcg", "latency_ms": "latency"}
_CUPED = {"clicks_per_search": "clicks", "purchases_per_search": "purchases"}


class ReportError(ServingError):
    """The report cannot be computed (no data for the experiment, bad labels file)."""


@dataclass(frozen=True)
class Comparison:
    metric: str
    arm: str
    baseline: str
    mean_arm: float
    mean_baseline: float
    diff: float
    ci_low: float
    ci_high: float
    t: float
    p: float
    significant: bool
    cuped: bool = False


@dataclass
class ABReport:
    experiment: str
    arms: list[dict[str, Any]]
    comparisons: list[Comparison]
    warnings: list[str] = field(default_factory=list)
    alpha: float = 0.05

    def to_json(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "alpha": self.alpha, "arms": self.arms,
                "comparisons": [asdict(c) for c in self.comparisons],
                "warnings": self.warnings}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ABReport:
        """The report back from `to_json` (e.g. computed by a server)."""
        return cls(data["experiment"], list(data["arms"]),
                   [Comparison(**c) for c in data["comparisons"]],
                   list(data.get("warnings", [])), float(data.get("alpha", 0.05)))

    def comparison(self, metric: str, cuped: bool = False) -> Comparison | None:
        return next((c for c in self.comparisons if c.metric == metric and c.cuped == cuped),
                    None)


def welch(
    mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int,
    alpha: float = 0.05,
) -> tuple[float, float, float, float, float]:
    """Welch's t-test of b − a from summary statistics: (diff, ci_low, ci_high, t, p)."""
    diff = mean_b - mean_a
    if n_a < 2 or n_b < 2:
        return diff, math.nan, math.nan, math.nan, math.nan
    se2_a, se2_b = var_a / n_a, var_b / n_b
    se = math.sqrt(se2_a + se2_b)
    if se == 0:
        return diff, diff, diff, math.nan, 1.0 if diff == 0 else 0.0
    df = (se2_a + se2_b) ** 2 / (se2_a**2 / (n_a - 1) + se2_b**2 / (n_b - 1))
    t = diff / se
    p = 2 * stats.t.sf(abs(t), df)
    half = stats.t.ppf(1 - alpha / 2, df) * se
    return diff, diff - half, diff + half, t, p


def read_label_gains(path: Path) -> list[list[Any]]:
    """A labels.jsonl as [normalised query, item_id, gain] rows (bad grades refused)."""
    rows: list[list[Any]] = []
    try:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            grade = obj.get("grade")
            if grade not in ESCI_GAINS:
                raise ReportError(f"{path}:{lineno}: grade {grade!r} is not one of E, S, C, I")
            rows.append([normalize_query(obj["query"]), obj["item_id"], ESCI_GAINS[grade]])
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise ReportError(f"cannot read labels {path}: {exc}") from exc
    return rows


def _load_labels(client: LockedClient, rows: list[list[Any]]) -> str:
    """Ground truth into a temporary Memory table (normalised query, item, gain)."""
    table = f"ab_labels_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE TABLE {table} (query String, item_id String, gain Float64) "
                   "ENGINE = Memory")
    if rows:
        client.insert(table, rows, ["query", "item_id", "gain"])
    return table


def _rows(client: LockedClient, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=params)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def compute_report(
    client: LockedClient, experiment: str, *, requests_table: str = "serving_requests",
    feedback_table: str = "serving_feedback", labels: Path | list[list[Any]] | None = None,
    pre_experiment: str | None = None, baseline: str | None = None, alpha: float = 0.05,
    min_requests: int = 200,
) -> ABReport:
    """Per-arm metrics and every arm-vs-baseline comparison (plus CUPED ones).

    `labels`: a labels.jsonl, or rows already read by `read_label_gains`."""
    if isinstance(labels, Path):
        labels = read_label_gains(labels)
    labels_table = _load_labels(client, labels) if labels is not None else None
    params = {"exp": experiment, "pre": pre_experiment or ""}
    try:
        per_arm = _rows(client, report_sql(requests_table, feedback_table, labels_table,
                                           bool(pre_experiment)), params)
        pooled = (_rows(client, report_sql(requests_table, feedback_table, None, True,
                                           by_arm=False), params)
                  if pre_experiment else [])
    finally:
        if labels_table:
            client.command(f"DROP TABLE IF EXISTS {labels_table}")
    if not per_arm:
        raise ReportError(f"no requests of experiment {experiment!r} in {requests_table}")
    arms = {row["arm"]: row for row in per_arm}
    base = baseline or sorted(arms)[0]
    if base not in arms:
        raise ReportError(f"baseline arm {base!r} not in the experiment's arms {sorted(arms)}")
    report = ABReport(experiment, [_arm_summary(r) for r in per_arm], [], alpha=alpha)
    reused = sum(int(r.get("reused_request_ids") or 0) for r in per_arm)
    if reused:
        report.warnings.append(
            f"{reused} request_id(s) were served with more than one (user, query, items): "
            "each counts once, with its last row; clients must send a new request_id per "
            "search")
    for name, row in arms.items():
        if row["requests"] < min_requests:
            report.warnings.append(
                f"arm {name} has only {row['requests']} requests (< {min_requests}): "
                "differences are unreliable at this sample size")
    for name, row in sorted(arms.items()):
        if name == base:
            continue
        for metric in METRICS:
            cmp = _compare(metric, arms[base], row, base, name, alpha)
            if cmp is not None:
                report.comparisons.append(cmp)
        if pooled and pooled[0]["pre_requests"]:
            for metric in _CUPED:
                report.comparisons.append(_cuped(metric, arms[base], row, pooled[0], base,
                                                 name, alpha))
    if pre_experiment and not (pooled and pooled[0]["pre_requests"]):
        report.warnings.append(f"no requests of pre-experiment {pre_experiment!r}: no CUPED")
    return report


def _arm_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "arm": row["arm"], "requests": int(row["requests"]), "users": int(row["users"]),
        "ctr_at": [float(x) for x in row["ctr_at"]],
        "clicks_per_search": row["clicks_mean"], "purchases_per_search": row["purchases_mean"],
        "ndcg@10": row["ndcg_mean"], "latency_p50_ms": row["latency_p50"],
        "latency_p99_ms": row["latency_p99"],
    }


def _compare(metric: str, a: dict[str, Any], b: dict[str, Any], base: str, arm: str,
             alpha: float) -> Comparison | None:
    col = _COLUMN[metric]
    n_a, n_b = (int(a["ndcg_n"]), int(b["ndcg_n"])) if col == "ndcg" else (
        int(a["requests"]), int(b["requests"]))
    if a[f"{col}_mean"] is None or b[f"{col}_mean"] is None:
        return None  # no labels given: no NDCG
    diff, lo, hi, t, p = welch(a[f"{col}_mean"], a[f"{col}_var"] or 0.0, n_a,
                               b[f"{col}_mean"], b[f"{col}_var"] or 0.0, n_b, alpha)
    return Comparison(metric, arm, base, b[f"{col}_mean"], a[f"{col}_mean"], diff, lo, hi, t,
                      p, bool(p < alpha))


def _cuped(metric: str, a: dict[str, Any], b: dict[str, Any], pooled: dict[str, Any],
           base: str, arm: str, alpha: float) -> Comparison:
    """CUPED: Y' = Y − θ(X − X̄), θ pooled over arms; mean and variance of Y' per arm."""
    col = _CUPED[metric]
    var_x = pooled[f"x_{col}_var"] or 0.0
    theta = (pooled[f"xy_{col}_cov"] or 0.0) / var_x if var_x > 0 else 0.0
    x_bar = pooled[f"x_{col}_mean"]

    def adjusted(r: dict[str, Any]) -> tuple[float, float]:
        mean = r[f"{col}_mean"] - theta * (r[f"x_{col}_mean"] - x_bar)
        var = ((r[f"{col}_var"] or 0.0) + theta**2 * (r[f"x_{col}_var"] or 0.0)
               - 2 * theta * (r[f"xy_{col}_cov"] or 0.0))
        return mean, max(var, 0.0)

    (ma, va), (mb, vb) = adjusted(a), adjusted(b)
    diff, lo, hi, t, p = welch(ma, va, int(a["requests"]), mb, vb, int(b["requests"]), alpha)
    return Comparison(metric, arm, base, mb, ma, diff, lo, hi, t, p, bool(p < alpha), True)
