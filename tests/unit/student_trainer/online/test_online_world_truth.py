"""`relstream train online --world DIR`: a shop's contract files are enough for the
prequential evaluator's ground truth (no scenario.json), and a missing labels file is named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from relstream.core.errors import ShopFileError
from relstream.core.shop_files import load_labels
from student_trainer.online.loop import ground_truth


def test_contract_files_give_grades_and_a_simulated_world_its_scenario(
    tmp_path: Path,
) -> None:
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate

    world = simulate(SimConfig.tiny(tmp_path / "world", seed=3, scenario="new-brand"))
    shop = tmp_path / "shop"
    shop.mkdir()
    for name in ("catalog.jsonl", "search_log.jsonl", "labels.jsonl"):
        shutil.copy(world / name, shop / name)

    simulated, contract = ground_truth(world), ground_truth(shop)
    assert contract.grades == simulated.grades and len(contract.grades) == len(
        load_labels(shop))
    (query, item_id), grade = next(iter(load_labels(shop).items()))
    assert contract.grade(query.upper(), item_id) == grade  # looked up by normalised query
    assert simulated.new_brand_queries and simulated.change_at is not None
    assert contract.new_brand_queries == set() and contract.change_at is None

    (shop / "labels.jsonl").unlink()
    with pytest.raises(ShopFileError, match=r"labels\.jsonl not found \(the ground truth the "
                       "prequential points"):
        ground_truth(shop)
