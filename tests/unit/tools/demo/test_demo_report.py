"""The demo's report: the late window of the new brand's requests and the verdict read on it.

Runs on the real embedded ClickHouse: requests are written in the server's schema, the
continuous arm ranks the new brand's items badly in the first half of the experiment and
well in the second; the frozen arm ranks them well 60 % of the time throughout.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relstream.core.clickhouse import get_client
from relstream.core.settings import CommonSettings
from relstream.tools.demo.report import REQUESTS, build_report
from serving.metrics_writer import FEEDBACK_COLUMNS, REQUEST_COLUMNS, ddl

BRAND_QUERY = "acme kettle"
OTHER_QUERY = "blue socks"


def _write_world_labels(path: Path) -> Path:
    rows = [{"query": q, "item_id": f"{q[:4]}-{k}", "grade": "E" if k < 2 else "I"}
            for q in (BRAND_QUERY, OTHER_QUERY) for k in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _request(n: int, t: datetime, arm: str, query: str, good: bool) -> list[object]:
    items = [f"{query[:4]}-{k}" for k in range(6)]
    # good: the two E items on top; bad: at the bottom. A little noise keeps variances > 0.
    rng = random.Random(n)
    scores = [(1.0 if (k < 2) == good else 0.0) + rng.random() * 0.5 for k in range(6)]
    order = sorted(range(6), key=lambda k: -scores[k])
    positions = [order.index(k) + 1 for k in range(6)]
    return [t, f"r{n}", "demo", f"u{n}", arm, "cross_encoder", "1", query, items, scores,
            positions, 5.0]


def test_verdict_reads_the_late_window_and_says_the_whole_too(chdb_url: str,
                                                              tmp_path: Path) -> None:
    client = get_client(CommonSettings(clickhouse_url=chdb_url, state_dir=tmp_path))
    for sql in ddl(REQUESTS, "serving_feedback"):
        client.command(sql)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows, n = [], 0
    for second in range(200):
        late = second >= 100
        for arm in ("continuous", "frozen"):
            n += 1
            # continuous: bad before the middle, good after (whole: 50 %); frozen: 60 %
            good = late if arm == "continuous" else second % 5 < 3
            query = BRAND_QUERY if n % 3 else OTHER_QUERY
            rows.append(_request(n, t0 + timedelta(seconds=second), arm, query, good))
    client.insert(REQUESTS, rows, REQUEST_COLUMNS)
    client.insert("serving_feedback", [], FEEDBACK_COLUMNS)
    labels = _write_world_labels(tmp_path / "labels.jsonl")

    report = build_report(client, "demo", labels, [BRAND_QUERY], tmp_path / "report",
                          min_requests=10, verdict_from=0.5)

    assert report.errors == []
    assert report.new_brand is not None and report.new_brand_late is not None
    late_n = sum(a["requests"] for a in report.new_brand_late.arms)
    all_n = sum(a["requests"] for a in report.new_brand.arms)
    assert 0.45 * all_n <= late_n <= 0.55 * all_n  # the second half of the time range
    late, whole = (r.comparison("ndcg@10") for r in (report.new_brand_late, report.new_brand))
    assert late is not None and whole is not None
    assert late.diff > 0 and late.significant  # continuous ranks well late on
    assert whole.diff < late.diff
    verdict = report.verdict()
    assert verdict.startswith("continuous BEATS frozen on the new brand's queries "
                              "(last 50% of the experiment)")
    assert "NDCG@10" in verdict and "clicks/search" in verdict

    # Without a late window the verdict reads the whole experiment: here a loss.
    whole_only = build_report(client, "demo", labels, [BRAND_QUERY], tmp_path / "r2",
                              min_requests=10)
    assert whole_only.new_brand_late is None
    assert "(whole experiment)" in whole_only.verdict()
    assert not whole_only.verdict().startswith("continuous BEATS")
