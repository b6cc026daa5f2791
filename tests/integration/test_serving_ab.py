"""A/B and A/A on a simulated world: `ab-report` finds the better arm, and only that.

A/B: the world's searches go through the app (arm A: a random toy cross-encoder, arm B:
the word-overlap one), simulated feedback goes to the real `search-log` topic, serving's
feedback consumer writes it to ClickHouse, and the report must show B ahead,
significantly. A/A: both arms serve one model; five seeds (salt + click randomness) with
a pre-period for CUPED; at most one seed may show a significant difference. The A/A
rows are written through the real router, scorer and writer without HTTP, for speed.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from relstream.core import topics
from relstream.core.clickhouse import get_client
from relstream.core.item_text import item_text
from relstream.core.kafka_io import EventProducer
from relstream.core.schemas import FeedbackEvent, normalize_query
from relstream.core.settings import CommonSettings
from relstream.tools.loadgen.ab_sim import drive, load_grades, load_searches, simulated_feedback
from relstream.tools.simulator.config import SimConfig
from relstream.tools.simulator.world import simulate
from relstream.tools.toy_models import publish_toy_model, vocabulary
from serving.ab_render import render_text, save
from serving.ab_report import compute_report
from serving.ab_router import ABRouter
from serving.api_models import ABConfig, ArmConfig
from serving.app import create_app
from serving.item_lookup import MemoryItemLookup
from serving.metrics_writer import MetricsWriter, RequestRow, now
from serving.model_holder import ModelHolder
from serving.settings import ServingSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    return simulate(SimConfig(out=out, seed=3, items=500, days=1, searches=1400))


@pytest.fixture(scope="module")
def ab_registry(world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """(root, random version, word-overlap version) of `cross_encoder`."""
    catalog = MemoryItemLookup.from_jsonl(world / "catalog.jsonl")
    texts = [item_text(i) for i in catalog.get_items(
        [json.loads(line)["item_id"] for line in (world / "catalog.jsonl").open()]).values()
        if i is not None]
    vocab = vocabulary(texts + [s.query for s in load_searches(world / "search_log.jsonl")])
    root = tmp_path_factory.mktemp("ab-registry")
    worse = publish_toy_model(root, "cross_encoder", seed=1, vocab=vocab)
    better = publish_toy_model(root, "cross_encoder", seed=2, vocab=vocab, overlap_weight=1.0,
                               noise_weight=0.1)
    return root, worse, better


def test_ab_report_finds_the_better_arm(
    stack_settings: CommonSettings, world: Path, ab_registry: tuple[Path, str, str],
    tmp_path: Path,
) -> None:
    root, worse, better = ab_registry
    experiment = f"ab{uuid.uuid4().hex[:8]}"
    config = ABConfig(experiment=experiment, salt="ab-test", default_arm="A", arms=[
        ArmConfig(name="A", model="cross_encoder", version=worse, share=0.5),
        ArmConfig(name="B", model="cross_encoder", version=better, share=0.5)])
    (tmp_path / "ab.json").write_text(config.model_dump_json())
    suffix = uuid.uuid4().hex[:8]
    settings = ServingSettings(
        **{**stack_settings.model_dump(), "registry": root}, ab_config_path=tmp_path / "ab.json",
        catalog_path=world / "catalog.jsonl", consume_feedback=True, poll_interval_s=0,
        metrics_table=f"ab_requests_{suffix}", feedback_table=f"ab_feedback_{suffix}",
        metrics_flush_s=0.2,
    )
    producer = EventProducer(settings, client_id="ab-test")

    def to_kafka(query: str, events: list[FeedbackEvent]) -> None:
        for event in events:
            producer.send(topics.SEARCH_LOG, event, key=normalize_query(query))

    searches = load_searches(world / "search_log.jsonl", limit=900)
    grades = load_grades(world / "labels.jsonl")
    with TestClient(create_app(settings)) as http:
        stats = drive(http, searches, grades, to_kafka, seed=1)
        producer.flush()
        writer = http.app.state.serving.writer  # type: ignore[attr-defined]
        deadline = time.monotonic() + 60
        while writer.feedback_written < stats.feedback:
            assert time.monotonic() < deadline, (writer.feedback_written, stats.feedback)
            time.sleep(0.3)
    producer.close()
    assert stats.failed == 0 and set(stats.by_arm) == {"A", "B"}
    report = compute_report(get_client(settings), experiment,
                            requests_table=settings.metrics_table,
                            feedback_table=settings.feedback_table,
                            labels=world / "labels.jsonl", min_requests=100)
    print(render_text(report))
    _, png = save(report, tmp_path / "report")
    assert png.stat().st_size > 10_000
    assert sum(a["requests"] for a in report.arms) == stats.searches > 800
    for metric in ("ndcg@10", "clicks_per_search"):
        cmp = report.comparison(metric)
        assert cmp is not None and cmp.arm == "B" and cmp.baseline == "A"
        assert cmp.diff > 0 and cmp.significant and cmp.ci_low > 0, cmp
    assert report.warnings == []


def test_aa_shows_no_difference_in_most_seeds(
    chdb_url: str, world: Path, ab_registry: tuple[Path, str, str], tmp_path: Path,
) -> None:
    root, _, better = ab_registry
    settings = CommonSettings(state_dir=tmp_path, clickhouse_url=chdb_url)
    suffix = uuid.uuid4().hex[:8]
    tables = {"requests_table": f"aa_requests_{suffix}", "feedback_table": f"aa_feedback_{suffix}"}
    writer = MetricsWriter(lambda: get_client(settings), batch_size=5000, **tables)
    searches = load_searches(world / "search_log.jsonl", limit=1000)
    grades = load_grades(world / "labels.jsonl")
    catalog = MemoryItemLookup.from_jsonl(world / "catalog.jsonl")
    holder = ModelHolder(root, "cross_encoder", better)
    holder.refresh()
    scored = []
    with holder.lease() as model:
        for s in searches:
            if not s.results:
                continue
            ids = [r.item_id for r in s.results]
            items = catalog.get_items(ids)
            scored.append((s, ids, model.scorer.score(s.query, [item_text(items[i]) for i in ids
                                                                  if items[i] is not None])))
    holder.close()
    significant = {"clicks_per_search": 0, "ndcg@10": 0, "clicks_per_search (CUPED)": 0}
    for seed in range(5):
        experiment = f"aa{seed}x{suffix}"
        router = ABRouter(ABConfig(experiment=experiment, salt=f"salt{seed}", arms=[
            ArmConfig(name="A1", model="cross_encoder", version=better, share=0.5),
            ArmConfig(name="A2", model="cross_encoder", version=better, share=0.5)]))
        rng = random.Random(seed)
        for k, (search, ids, scores) in enumerate(scored):
            # The first 400 searches are the pre-period: CUPED's covariate per user.
            exp = f"{experiment}pre" if k < 400 else experiment
            request_id = f"{exp}-{search.request_id}"
            writer.submit(RequestRow(request_id, exp, search.user_id,
                                     router.arm_for(search.user_id).name, "cross_encoder",
                                     better, search.query, ids, list(scores), 1.0, now()))
            writer.submit_feedback(simulated_feedback(search, request_id, ids, list(scores),
                                                      grades, rng))
        assert writer.flush(), writer.last_error
        report = compute_report(get_client(settings), experiment, labels=world / "labels.jsonl",
                                pre_experiment=f"{experiment}pre", min_requests=100, **tables)
        for cmp in report.comparisons:
            name = cmp.metric + (" (CUPED)" if cmp.cuped else "")
            if name in significant:
                significant[name] += cmp.significant
        plain, cuped = report.comparison("clicks_per_search"), report.comparison(
            "clicks_per_search", cuped=True)
        assert plain is not None and cuped is not None
        # CUPED never widens the interval much (θ is the variance-minimising choice).
        assert cuped.ci_high - cuped.ci_low <= 1.01 * (plain.ci_high - plain.ci_low)
    print("A/A seeds with a significant difference (of 5):", significant)
    assert all(count <= 1 for count in significant.values()), significant
