"""`relstream simulate --stats DIR`: what a world looks like, computed from its files.

Tables: a summary, the grade mix overall and by query kind, click-through by grade and by
position, the head/torso/tail traffic share, and the TF-IDF baseline on the test split.
Everything is read back from the files, so it describes exactly what downstream sees.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from relstream.core.metrics import evaluate_tfidf
from relstream.core.schemas import GRADES
from relstream.core.shop_files import (
    _path,
    find,
    iter_jsonl,
    load_labels,
    load_query_meta,
    load_scenario,
)

Table = list[dict[str, Any]]


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else float("nan")


def world_stats(world_dir: Path | str, baseline: bool = True) -> dict[str, Table]:
    """Every stats table of the world in `world_dir`, as rows of dicts."""
    labels = load_labels(world_dir)
    meta = load_query_meta(world_dir)
    brands: set[str] = set()
    n_items = 0
    for row in iter_jsonl(_path(world_dir, "catalog.jsonl")):
        n_items += 1
        brands.add(row.get("brand") or "")
    impressions: Counter[str] = Counter()
    by_pos_imp: Counter[int] = Counter()
    by_pos_click: Counter[int] = Counter()
    actions: dict[str, Counter[str]] = defaultdict(Counter)
    bucket_searches: Counter[str] = Counter()
    shown_items: set[str] = set()
    users: set[str] = set()
    grade_of: dict[tuple[str, str], str] = {}
    pos_of: dict[tuple[str, str], int] = {}
    n_search = n_feedback = 0
    with _path(world_dir, "search_log.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            e = json.loads(line)
            users.add(e["user_id"])
            if e["type"] == "search":
                n_search += 1
                bucket_searches[meta.get(e["query"], {}).get("bucket", "?")] += 1
                for r in e["results"]:
                    g = labels.get((e["query"], r["item_id"]), "?")
                    grade_of[(e["request_id"], r["item_id"])] = g
                    pos_of[(e["request_id"], r["item_id"])] = r["position"]
                    impressions[g] += 1
                    by_pos_imp[r["position"]] += 1
                    shown_items.add(r["item_id"])
            else:
                n_feedback += 1
                key = (e["request_id"], e["item_id"])
                actions[e["action"]][grade_of.get(key, "?")] += 1
                if e["action"] == "click":
                    by_pos_click[pos_of.get(key, 0)] += 1
    summary = [{"what": k, "value": v} for k, v in (
        ("catalog items", n_items), ("brands", len(brands)), ("items shown", len(shown_items)),
        ("searches", n_search), ("feedback events", n_feedback), ("users", len(users)),
        ("distinct queries", len(meta)), ("labelled pairs", len(labels)))]
    if find(world_dir, "scenario.json") is not None:
        # family 0 worlds keep their pre-family scenario.json, which names no family
        scenario = load_scenario(world_dir)
        family = f"{scenario.get('family', 0)} {scenario.get('family_name', 'general')}"
        summary.insert(0, {"what": "shop family", "value": family})
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for (q, _), g in labels.items():
        kinds["all"][g] += 1
        kinds[meta.get(q, {}).get("kind", "?")][g] += 1
    grade_mix = [{"query kind": k, "pairs": sum(c.values()),
                  **{f"{g} %": _pct(c[g], sum(c.values())) for g in GRADES}}
                 for k, c in sorted(kinds.items(), key=lambda kv: (kv[0] != "all", kv[0]))]
    ctr_grade = [{"grade": g, "impressions": impressions[g],
                  "CTR %": _pct(actions["click"][g], impressions[g]),
                  "cart %": _pct(actions["add_to_cart"][g], impressions[g]),
                  "purchase %": _pct(actions["purchase"][g], impressions[g])} for g in GRADES]
    ctr_pos = [{"position": p, "impressions": by_pos_imp[p], "CTR %": _pct(by_pos_click[p],
                by_pos_imp[p])} for p in sorted(by_pos_imp)]
    q_buckets = Counter(m["bucket"] for m in meta.values())
    buckets = [{"bucket": b, "distinct queries": q_buckets[b],
                "search share %": _pct(bucket_searches[b], n_search)}
               for b in ("head", "torso", "tail")]
    tables: dict[str, Table] = {"summary": summary, "grade mix by query kind": grade_mix,
              "click-through by grade": ctr_grade, "click-through by position": ctr_pos,
              "head / torso / tail": buckets}
    if baseline:
        rows = []
        for split in ("test", "test_long_tail"):
            result = evaluate_tfidf(world_dir, split)
            rows.append({"split": split, "pairs": int(result["pairs"]),
                         "queries": int(result["queries"]),
                         "AUC (E vs rest)": round(result["auc_e_vs_rest"], 4),
                         "NDCG@10": round(result["ndcg@10"], 4)})
        tables["TF-IDF baseline (E vs rest)"] = rows
    return tables


def format_stats(tables: dict[str, Table]) -> str:
    """The tables as Markdown, one section each."""
    from relstream.core.reporting import markdown_table

    return "\n".join(f"### {name}\n\n{markdown_table(rows)}" for name, rows in tables.items())
