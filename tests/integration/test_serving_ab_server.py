"""The A/B route of docs/own-data.md against a running server: `relstream serve --follow`
owns its embedded ClickHouse, `ab-simulate --server` sends searches over HTTP and feedback
to the search-log topic, `ab-report --server` has the server compute the report. No
second process opens the server's ClickHouse path, so nobody sees a lock error."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from relstream.cli import main
from relstream.core.item_text import item_text
from relstream.core.settings import CommonSettings
from relstream.tools.loadgen.ab_sim import load_searches
from relstream.tools.simulator.config import SimConfig
from relstream.tools.simulator.world import simulate
from relstream.tools.toy_models import publish_toy_model, vocabulary
from serving.api_models import ABConfig, ArmConfig
from serving.item_lookup import MemoryItemLookup
from tests.conftest import settings_env
from tests.integration.serve_process import start_server, stop_server

pytestmark = pytest.mark.integration

TOKEN = "ab-admin-token"


def test_simulate_and_report_through_the_server(
    stack_settings: CommonSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world = simulate(SimConfig(out=tmp_path / "w", seed=4, items=300, days=1, searches=500))
    catalog = MemoryItemLookup.from_jsonl(world / "catalog.jsonl")
    texts = [item_text(i) for i in catalog.get_items(
        [json.loads(line)["item_id"] for line in (world / "catalog.jsonl").open()]).values()
        if i is not None]
    vocab = vocabulary(texts + [s.query for s in load_searches(world / "search_log.jsonl")])
    root = tmp_path / "registry"
    worse = publish_toy_model(root, "cross_encoder", seed=1, vocab=vocab)
    better = publish_toy_model(root, "cross_encoder", seed=2, vocab=vocab, overlap_weight=1.0,
                               noise_weight=0.1)
    experiment = f"srv{uuid.uuid4().hex[:8]}"
    (tmp_path / "ab.json").write_text(ABConfig(
        experiment=experiment, salt="srv", default_arm="A", arms=[
            ArmConfig(name="A", model="cross_encoder", version=worse, share=0.5),
            ArmConfig(name="B", model="cross_encoder", version=better, share=0.5),
        ]).model_dump_json())
    proc, base = start_server(
        stack_settings, tmp_path,
        ["--registry", str(root), "--catalog", str(world / "catalog.jsonl"), "--ab-config",
         str(tmp_path / "ab.json"), "--report-labels", str(world / "labels.jsonl"), "--follow"],
        model="cross_encoder", RELSTREAM_ADMIN_TOKEN=TOKEN, RELSTREAM_METRICS_FLUSH_S="0.5",
        RELSTREAM_ONNX_THREADS="1")
    try:
        for key, value in settings_env(stack_settings, RELSTREAM_ADMIN_TOKEN=TOKEN).items():
            monkeypatch.setenv(key, value)
        assert main(["ab-simulate", "--server", base, "--world", str(world),
                     "--searches", "400"]) == 0
        simulated = capsys.readouterr().out
        assert "0 failed" in simulated, simulated
        # The labels are the server's (--report-labels): naming them here is refused.
        assert main(["ab-report", "--server", base, "--experiment", experiment,
                     "--labels", str(world / "labels.jsonl")]) != 0
        capsys.readouterr()
        out = tmp_path / "reports"
        assert main(["ab-report", "--server", base, "--experiment", experiment,
                     "--min-requests", "50", "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        report = json.loads((out / f"ab-report-{experiment}.json").read_text())
        assert {a["arm"] for a in report["arms"]} == {"A", "B"}
        assert sum(a["requests"] for a in report["arms"]) == int(simulated.split()[0])
        ndcg = next(c for c in report["comparisons"] if c["metric"] == "ndcg@10")
        assert ndcg["arm"] == "B" and ndcg["diff"] > 0, ndcg  # the better model is B
        assert "ndcg@10" in printed
        # Without the token the report is refused, and says how to authenticate.
        monkeypatch.setenv("RELSTREAM_ADMIN_TOKEN", "wrong")
        assert main(["ab-report", "--server", base, "--experiment", experiment]) != 0
        assert "401" in capsys.readouterr().err
    finally:
        stop_server(proc, tmp_path)
