"""A data dir of contract files alone: splits derived by query hash, missing files named."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from relstream.core.errors import ShopFileError
from relstream.core.schemas import normalize_query
from relstream.core.shop_files import (
    CONTRACT_FILES,
    LONG_TAIL_MAX_SEARCHES,
    check_world,
    derive_splits,
    load_catalog,
    load_labels,
    load_pairs,
    load_shown_pairs,
    load_splits,
    search_counts,
    split_of_query,
)


def contract_only(world: Path, out: Path, names: tuple[str, ...] = CONTRACT_FILES) -> Path:
    """A copy of `names` of `world` (no splits.json, scenario or query_meta)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(world / name, out / name)
    return out


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate

    world = simulate(SimConfig.tiny(tmp_path_factory.mktemp("world"), seed=5, searches=900))
    return contract_only(world, tmp_path_factory.mktemp("shop"))


def test_split_of_query_is_the_documented_hash_and_ignores_case_and_spaces() -> None:
    import hashlib

    q = "Mens  Running Shoes "
    u = int.from_bytes(hashlib.sha256(b"mens running shoes").digest()[:8], "big") / 2**64
    want = "train" if u < 0.7 else ("validation" if u < 0.8 else "test")
    assert split_of_query(q) == split_of_query("mens running shoes") == want
    # the shares over many queries are the documented 70/10/20
    names = [split_of_query(f"query {n}") for n in range(20_000)]
    shares = {s: names.count(s) / len(names) for s in ("train", "validation", "test")}
    assert abs(shares["train"] - 0.7) < 0.02 and abs(shares["validation"] - 0.1) < 0.02
    assert abs(shares["test"] - 0.2) < 0.02


def test_derived_splits_cover_every_query_once_and_repeat_exactly(shop: Path) -> None:
    assert not (shop / "splits.json").exists()
    splits = load_splits(shop)
    assert splits == derive_splits(shop) == load_splits(shop)
    train, val, test = (set(splits[k]) for k in ("train", "validation", "test"))
    assert not (train & val or train & test or val & test)
    logged = set(search_counts(shop))
    labelled = {q for q, _ in load_labels(shop)}
    assert train | val | test == logged | labelled
    assert len(test) > 0 and len(train) > len(test)
    # whole queries: every labelled pair of a test query is a test pair
    for q, _ in load_labels(shop):
        assert (q in test) == (split_of_query(q) == "test")


def test_long_tail_is_the_test_queries_searched_at_most_n_times(shop: Path) -> None:
    splits = load_splits(shop)
    counts: dict[str, int] = {}
    for q, n in search_counts(shop).items():
        counts[normalize_query(q)] = counts.get(normalize_query(q), 0) + n
    tail = set(splits["test_long_tail"])
    assert tail <= set(splits["test"]) and tail
    for q in splits["test"]:
        assert (q in tail) == (counts.get(normalize_query(q), 0) <= LONG_TAIL_MAX_SEARCHES)
    assert len(tail) < len(splits["test"])  # the tiny world has some repeated test queries


def test_gzipped_contract_files_read_the_same(shop: Path, tmp_path: Path) -> None:
    for name in CONTRACT_FILES:
        with gzip.open(tmp_path / f"{name}.gz", "wb") as fh:
            fh.write((shop / name).read_bytes())
    check_world(tmp_path)
    assert load_splits(tmp_path) == load_splits(shop)
    assert load_catalog(tmp_path) == load_catalog(shop)
    assert load_labels(tmp_path) == load_labels(shop)


def test_the_contract_examples_are_a_data_dir(examples_dir: Path) -> None:
    check_world(examples_dir)
    splits = load_splits(examples_dir)
    queries = {json.loads(line)["query"] for line in (examples_dir / "labels.jsonl").open()}
    assert set(splits["train"]) | set(splits["validation"]) | set(splits["test"]) >= queries
    assert load_shown_pairs(examples_dir) >= {("stride runner 4 mens black", "sku-1001")}


def test_pairs_come_from_labels_or_else_from_the_search_log(shop: Path, tmp_path: Path) -> None:
    assert load_pairs(shop) == set(load_labels(shop))
    no_truth = contract_only(shop, tmp_path / "no-truth", ("catalog.jsonl", "search_log.jsonl"))
    check_world(no_truth, ground_truth=False)
    assert load_pairs(no_truth) == load_shown_pairs(shop)
    with pytest.raises(ShopFileError, match=r"labels\.jsonl not found \(the ground-truth"):
        check_world(no_truth)


def test_a_missing_file_is_named_with_what_it_is_for(shop: Path, tmp_path: Path) -> None:
    no_catalog = contract_only(shop, tmp_path / "a", ("search_log.jsonl", "labels.jsonl"))
    with pytest.raises(ShopFileError, match=r"a/catalog\.jsonl not found \(the items\)"):
        check_world(no_catalog)
    no_log = contract_only(shop, tmp_path / "b", ("catalog.jsonl", "labels.jsonl"))
    with pytest.raises(ShopFileError, match=r"search_log\.jsonl not found \(splits\.json is "
                       r"absent, so the splits are derived"):
        check_world(no_log)
    (no_log / "splits.json").write_text(json.dumps({"train": [], "validation": [], "test": []}))
    check_world(no_log)  # a hand-written splits file replaces the log
    assert load_splits(no_log)["test_long_tail"] == []
    with pytest.raises(ShopFileError, match="is not a directory"):
        check_world(tmp_path / "nowhere")


def test_a_hand_written_splits_file_wins_and_is_checked(make_world: Callable[..., Path],
                                                        tmp_path: Path) -> None:
    world = make_world(seed=2)
    assert load_splits(world) == json.loads((world / "splits.json").read_text())
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a"], "test": ["b"]}))
    with pytest.raises(ShopFileError, match=r"missing split\(s\) \['validation'\]"):
        load_splits(tmp_path)
