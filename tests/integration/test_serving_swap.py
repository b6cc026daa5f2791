"""Hot swap under steady concurrent load: no failed request, no stale version, flat memory.

The real app under uvicorn on a loopback port, 10 client threads for 4 s steady, then
20 s with 20 swaps between two versions through the admin endpoint (the lighter twin of
`relstream bench serving`, which runs 20 clients for 60 s), with ClickHouse metrics on.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from relstream.core.clickhouse import get_client
from relstream.tools.bench.serving import synthetic_catalog
from relstream.tools.drills.swap import body_maker, run_swap_drill
from relstream.tools.toy_models import publish_toy_model, vocabulary
from serving.item_lookup import MemoryItemLookup
from serving.settings import ServingSettings

pytestmark = pytest.mark.integration


def test_twenty_swaps_under_load(tmp_path: Path, chdb_url: str) -> None:
    items, queries = synthetic_catalog(2000, seed=1)
    vocab = vocabulary([q for q in queries] + [i.title for i in items])
    root = tmp_path / "registry"
    v1 = publish_toy_model(root, "cross_encoder", seed=1, vocab=vocab, overlap_weight=1.0)
    v2 = publish_toy_model(root, "cross_encoder", seed=2, vocab=vocab)
    table = f"swap_requests_{uuid.uuid4().hex[:8]}"
    settings = ServingSettings(
        state_dir=tmp_path / "state", clickhouse_url=chdb_url, registry=root,
        admin_token="t", metrics_table=table, metrics_flush_s=0.2,
    )
    result = run_swap_drill(
        settings, MemoryItemLookup(items), body_maker(queries, [i.item_id for i in items], 10),
        model="cross_encoder", versions=(v1, v2), clients=10, steady_s=4, swap_s=20, swaps=20,
    )
    assert result.swaps_done == 20 and result.swap_failures == 0
    assert len(result.steady) > 50 and len(result.swapping) > 200
    assert result.failed("steady") == 0 and result.failed("swapping") == 0
    assert {s.version for s in result.swapping} == {v1, v2}
    assert result.not_live() == []  # every response names a version live during it
    assert result.max_live_sessions <= 2
    assert abs(result.rss_growth) <= 0.10, (result.rss_after_first_swap, result.rss_after_swaps)
    # Every scored request reached ClickHouse (the app's writer flushed on shutdown).
    ok = sum(s.status == 200 for s in result.warmup + result.steady + result.swapping)
    client = get_client(settings)
    deadline = time.monotonic() + 10
    while (written := client.command(f"SELECT count() FROM {table}")) < ok:
        assert time.monotonic() < deadline, (written, ok)
        time.sleep(0.2)
    assert written == ok
