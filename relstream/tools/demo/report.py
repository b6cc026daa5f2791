"""The demo's final report, computed where the server wrote its data.

The server writes scored requests and feedback to its own embedded ClickHouse (chdb)
path, and chdb admits one process per path. So the report runs after the server has
stopped, in the demo process (which opens no other chdb path): the A/B report of
`serving.ab_report` over all queries and over the new brand's queries only, plus the
per-request rows the plots need (`relstream.tools.demo.plots`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relstream.core.clickhouse import LockedClient, get_client
from relstream.core.schemas import normalize_query
from relstream.core.settings import CommonSettings
from serving.ab_report import ABReport, ReportError, compute_report
from serving.ab_sql import NORMALIZE, per_request_sql

log = logging.getLogger(__name__)

REQUESTS = "serving_requests"
FEEDBACK = "serving_feedback"
NEW_BRAND_REQUESTS = "demo_new_brand_requests"
NEW_BRAND_LATE = "demo_new_brand_requests_late"
OTHER_LATE = "demo_other_requests_late"
BASELINE = "frozen"
CHALLENGER = "continuous"


@dataclass
class RequestRow:
    """One scored request of the experiment with its outcome."""

    t: float
    arm: str
    version: str
    query: str
    item_ids: list[str]
    scores: list[float | None]
    clicks: int
    new_brand: bool


@dataclass
class DemoReport:
    all_queries: ABReport | None
    new_brand: ABReport | None
    new_brand_late: ABReport | None = None
    """The new brand's queries from `verdict_from` of the experiment on (see `verdict`)."""
    other_late: ABReport | None = None
    """Every other query in the same window: continuous training must not cost them."""
    verdict_from: float = 0.0
    rows: list[RequestRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def verdict(self) -> str:
        """One sentence: does the continuously trained arm beat the frozen one on the brand?

        Read on the late window when there is one: right after the launch both arms serve
        models that never saw the brand, and the continuous arm's first post-launch versions
        have trained on a few dozen of its labels; what the experiment asks is whether
        continuous training wins once it has had time to learn. Ranking quality against
        ground truth (NDCG@10) decides, at p < 0.05; clicks/search, noisier, is shown.
        """
        report, window = self.new_brand_late, f"last {1 - self.verdict_from:.0%} of the experiment"
        if report is None:
            report, window = self.new_brand, "whole experiment"
        if report is None:
            return "no verdict: no new-brand requests were scored"
        ndcg = report.comparison("ndcg@10")
        parts = []
        for name, c in (("NDCG@10", ndcg), ("clicks/search",
                                            report.comparison("clicks_per_search"))):
            if c is None:
                continue
            direction = "higher" if c.diff > 0 else "lower" if c.diff < 0 else "equal"
            sig = "significant" if c.significant else "not significant"
            parts.append(f"{name} {c.mean_arm:.4g} vs {c.mean_baseline:.4g} "
                         f"({direction}, p={c.p:.3g}, {sig})")
        if ndcg is not None and ndcg.diff > 0 and ndcg.significant:
            head = "continuous BEATS frozen on the new brand's queries"
        elif ndcg is not None and ndcg.diff > 0:
            head = "continuous is ahead of frozen on the new brand's queries, not significantly"
        else:
            head = "continuous does NOT beat frozen on the new brand's queries"
        return f"{head} ({window}): " + "; ".join(parts)


def open_server_data(settings: CommonSettings) -> LockedClient:
    """The server's ClickHouse (its chdb path, now that the server has stopped)."""
    return get_client(settings)


def _new_brand_table(client: LockedClient, experiment: str, new_brand_queries: list[str],
                     table: str = NEW_BRAND_REQUESTS, from_share: float = 0.0,
                     exclude: bool = False) -> int:
    """Copy the new brand's requests (`exclude`: every other request) into `table`: those
    from `from_share` of the experiment's time range on (0: all of them)."""
    client.command(f"DROP TABLE IF EXISTS {table}")
    client.command(f"CREATE TABLE {table} AS {REQUESTS}")
    norm = NORMALIZE.format(col="query")
    client.command(
        f"""INSERT INTO {table} SELECT * FROM {REQUESTS}
            WHERE {norm} {"NOT IN" if exclude else "IN"} {{queries:Array(String)}}
              AND ts >= (SELECT min(ts) + toIntervalMillisecond(toInt64(
                             {{share:Float64}} * (toUnixTimestamp64Milli(max(ts))
                                                  - toUnixTimestamp64Milli(min(ts)))))
                         FROM {REQUESTS} WHERE experiment = {{exp:String}})""",
        parameters={"queries": sorted({normalize_query(q) for q in new_brand_queries}),
                    "share": from_share, "exp": experiment})
    return int(client.command(f"SELECT count() FROM {table}"))


def _report(client: LockedClient, experiment: str, requests_table: str, labels: Path,
            min_requests: int) -> ABReport:
    return compute_report(client, experiment, requests_table=requests_table,
                          feedback_table=FEEDBACK, labels=labels, baseline=BASELINE,
                          min_requests=min_requests)


def request_rows(client: LockedClient, experiment: str, new_brand_queries: list[str]
                 ) -> list[RequestRow]:
    """Every request of the experiment with time, arm, version, scores and clicks."""
    per_request = per_request_sql(REQUESTS, FEEDBACK, "exp")
    result = client.query(
        f"""SELECT toFloat64(toUnixTimestamp64Milli(r.ts)) / 1000 AS t, p.arm, r.model_version,
                   p.query, p.item_ids, r.scores, p.clicks
            FROM ({per_request}) AS p
            INNER JOIN (SELECT request_id, any(ts) AS ts, any(model_version) AS model_version,
                               any(scores) AS scores
                        FROM {REQUESTS} WHERE experiment = {{exp:String}} GROUP BY request_id)
                AS r ON r.request_id = p.request_id
            ORDER BY t""", parameters={"exp": experiment})
    brand = {normalize_query(q) for q in new_brand_queries}
    return [RequestRow(float(t), str(arm), str(version), str(query), list(items),
                       list(scores), int(clicks), normalize_query(query) in brand)
            for t, arm, version, query, items, scores, clicks in result.result_rows]


def build_report(
    client: LockedClient, experiment: str, labels: Path, new_brand_queries: list[str],
    out_dir: Path, min_requests: int = 100, verdict_from: float = 0.0,
) -> DemoReport:
    """The A/B reports (saved as JSON + PNG under `out_dir`): all queries, the new brand's,
    and the new brand's from `verdict_from` of the experiment on; plus per-request rows."""
    from serving.ab_render import save

    out_dir.mkdir(parents=True, exist_ok=True)
    result = DemoReport(None, None, verdict_from=verdict_from)
    try:
        result.all_queries = _report(client, experiment, REQUESTS, labels, min_requests)
        save(result.all_queries, out_dir)
    except ReportError as exc:
        result.errors.append(f"A/B report (all queries): {exc}")
    try:
        n = _new_brand_table(client, experiment, new_brand_queries)
        if n:
            report = _report(client, experiment, NEW_BRAND_REQUESTS, labels, min_requests)
            report.experiment = f"{experiment}-new-brand"
            result.new_brand = report
            save(report, out_dir)
        else:
            result.errors.append("A/B report (new brand): no request used a new-brand query")
    except ReportError as exc:
        result.errors.append(f"A/B report (new brand): {exc}")
    if verdict_from > 0 and result.new_brand is not None:
        def late_window(table: str, suffix: str, what: str, exclude: bool) -> ABReport | None:
            try:
                _new_brand_table(client, experiment, new_brand_queries, table, verdict_from,
                                 exclude=exclude)
                late = _report(client, experiment, table, labels, min_requests // 2)
            except ReportError as exc:
                result.errors.append(f"A/B report ({what}, late window): {exc}")
                return None
            late.experiment = f"{experiment}-{suffix}"
            save(late, out_dir)
            return late

        result.new_brand_late = late_window(NEW_BRAND_LATE, "new-brand-late", "new brand",
                                            exclude=False)
        result.other_late = late_window(OTHER_LATE, "other-late", "other queries", exclude=True)
    try:
        result.rows = request_rows(client, experiment, new_brand_queries)
    except Exception as exc:  # plots are extra; the tables above already stand
        result.errors.append(f"per-request rows for the plots: {exc}")
    return result


def write_summary(report: DemoReport, path: Path, extra: dict[str, Any]) -> Path:
    """The run's summary as JSON: both reports, the verdict, errors and run facts."""
    payload = {
        "verdict": report.verdict(),
        "all_queries": report.all_queries.to_json() if report.all_queries else None,
        "new_brand": report.new_brand.to_json() if report.new_brand else None,
        "new_brand_late": report.new_brand_late.to_json() if report.new_brand_late else None,
        "other_late": report.other_late.to_json() if report.other_late else None,
        "verdict_from": report.verdict_from,
        "errors": report.errors, **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path
