"""`relstream bench feast-write`: rows/s into Feast's online store, relstream's
`push_rows` beside Feast's own `store.push` (the baseline) in the same run.

The stream processor's push process writes every changed aggregate through `push_rows`,
and how fast it does bounds how soon Feast holds a stream's counts (`relstream bench
streams`, the "until Feast holds every row" rows). The paths — Feast's `store.push`;
`push_rows` handing Value protos to the provider's `online_write_batch` (what it does on
SQLite); on Redis, `push_rows` building Feast's hashes itself (`feature_store.redis_rows`)
— write the same `pair_stats` rows (18 statistics each) into the same store, in rotating
order, `repeats` times, twice per repeat: first writes of new keys, then the same keys
again one second newer (what a stream's pushes mostly are: Redis then also reads each
key's stored time, and skips rows that are not newer).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from feature_store.definitions import PAIR_STATS, push_source_name, stat_fields, view_columns

BASELINE = "Feast store.push (pandas + pyarrow) (baseline)"
PROTOS = "push_rows, value protos → online_write_batch"
DIRECT = "push_rows, Feast's Redis layout built directly"


def pair_rows(n: int, tag: str, ts: datetime) -> list[dict[str, Any]]:
    """`n` pair_stats rows with small counts, ten items per query, keys unique to `tag`."""
    fields = stat_fields(PAIR_STATS)
    return [{"query": f"{tag} q{i // 10}", "item_id": f"{tag}-{i}", "event_timestamp": ts,
             **{f: (i % 7) / 10 if f.startswith("ctr") else (i * 7 + k) % 50
                for k, f in enumerate(fields)}}
            for i in range(n)]


def _feast_push(store: Any, rows: list[dict[str, Any]]) -> None:
    import pandas as pd
    from feast.data_source import PushMode

    cols = view_columns(PAIR_STATS)
    df = pd.DataFrame([{c: r[c] for c in cols} for r in rows], columns=cols)
    store.push(push_source_name(PAIR_STATS), df, to=PushMode.ONLINE)


def _timed(write: Callable[[list[dict[str, Any]]], Any], rows: list[dict[str, Any]]
           ) -> float:
    t0 = time.perf_counter()
    write(rows)
    return time.perf_counter() - t0


def measure(store: Any, n: int, repeats: int) -> dict[tuple[str, str], list[float]]:
    """Seconds per write of `n` rows, by (keys, path); the paths alternate."""
    from feature_store.client import push_rows
    from feature_store.redis_rows import supports

    paths: dict[str, Callable[[list[dict[str, Any]]], Any]] = {
        BASELINE: lambda rows: _feast_push(store, rows),
        PROTOS: lambda rows: push_rows(store, PAIR_STATS, rows, direct=False)}
    if supports(store):  # what push_rows does on plain Redis
        paths[DIRECT] = lambda rows: push_rows(store, PAIR_STATS, rows)
    out: dict[tuple[str, str], list[float]] = {}
    for rep in range(repeats):
        ts = datetime.now(UTC)
        order = list(paths)[rep % len(paths):] + list(paths)[:rep % len(paths)]
        for keys, shift in (("new", 0), ("existing", 1)):
            for k, name in enumerate(order):
                rows = pair_rows(n, f"r{rep}p{k}", ts + timedelta(seconds=shift))
                out.setdefault((keys, name), []).append(_timed(paths[name], rows))
    return out


def check_equal(store: Any) -> None:
    """Every path must leave the same values: read one row written each way."""
    from feature_store.client import get_online, push_rows

    ts = datetime.now(UTC)
    direct, protos, feasts = (pair_rows(1, f"check-{k}", ts)[0] for k in "abc")
    push_rows(store, PAIR_STATS, [direct])
    push_rows(store, PAIR_STATS, [protos], direct=False)
    _feast_push(store, [feasts])
    got = [{k.split("__")[1]: v for k, v in get_online(store, r["query"], r["item_id"]).items()
            if k.startswith(f"{PAIR_STATS}__")} for r in (direct, protos, feasts)]
    if not got[0] == got[1] == got[2]:
        raise RuntimeError(f"the write paths disagree: {got}")


def run_bench(rows: int, repeats: int, out: Path, redis: bool = True) -> int:
    from feature_store.config import apply_repo
    from relstream.core.reporting import save_results
    from relstream.core.settings import CommonSettings
    from relstream.tools.bench.streams import PrivateRedis

    tmp = Path(tempfile.mkdtemp(prefix="relstream-bench-feast-write-"))
    stores = [("sqlite", "")]
    server = None
    if redis and shutil.which("redis-server"):
        server = PrivateRedis(tmp)
        stores.insert(0, ("redis", server.url()))
    results: list[dict[str, Any]] = []
    try:
        for kind, url in stores:
            store = apply_repo(CommonSettings(state_dir=tmp / kind, redis_url=url))
            check_equal(store)
            times = measure(store, rows, repeats)
            for keys in ("new", "existing"):
                base = statistics.median(times[keys, BASELINE])
                for path in (p for p in (BASELINE, PROTOS, DIRECT) if (keys, p) in times):
                    runs = times[keys, path]
                    results.append({
                        "store": kind, "keys": keys, "path": path, "rows": rows,
                        "rows_per_s": rows / statistics.median(runs),
                        "runs_rows_per_s": [round(rows / s) for s in runs],
                        "ratio_vs_baseline": base / statistics.median(runs)})
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    save_results("bench-feast-write", results, out,
                 command=f"relstream bench feast-write --rows {rows} --repeats {repeats}",
                 notes=f"{rows:,} pair_stats rows (18 statistics) per write into one Feast "
                 "online store; the paths rotate their order every repeat; "
                 "'new': keys never written, 'existing': the same keys one second newer. "
                 "Medians over the repeats; ratio_vs_baseline is the baseline's median time "
                 "over the path's. Before timing, one row written each way reads back the "
                 "same; on Redis push_rows takes the direct path, on SQLite the proto one.")
    return 0
