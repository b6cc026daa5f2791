"""Stats tables, the TF-IDF baseline, config validation and the `simulate` command."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from relstream.cli import simulate as cli
from relstream.core.metrics import binary_auc, ndcg_at_k
from relstream.tools.simulator.config import SimConfig
from relstream.tools.simulator.errors import SimulatorError
from relstream.tools.simulator.stats import format_stats, world_stats

World = Callable[..., Path]


def test_stats_tables(make_world: World) -> None:
    tables = world_stats(make_world(seed=1))
    assert {"summary", "grade mix by query kind", "click-through by grade",
            "click-through by position", "head / torso / tail",
            "TF-IDF baseline (E vs rest)"} <= set(tables)
    ctr = {r["grade"]: r["CTR %"] for r in tables["click-through by grade"]}
    assert ctr["E"] > ctr["I"]
    auc = tables["TF-IDF baseline (E vs rest)"][0]["AUC (E vs rest)"]
    assert math.isnan(auc) or 0.0 < auc < 1.0
    assert "### summary" in format_stats(tables)


def test_metrics_by_hand() -> None:
    assert binary_auc(["E", "I", "S", "E"], [0.9, 0.1, 0.5, 0.4]) == pytest.approx(0.75)
    assert math.isnan(binary_auc(["I", "S"], [0.1, 0.2]))
    # one query: E ranked second behind S → DCG = 0.1 + 1/log2(3); ideal = 1 + 0.1/log2(3)
    got = ndcg_at_k(["q", "q"], ["S", "E"], [0.9, 0.1])
    assert got == pytest.approx((0.1 + 1 / math.log2(3)) / (1 + 0.1 / math.log2(3)))


@pytest.mark.parametrize("bad", [{"items": 10}, {"days": 0}, {"scenario": "chaos"},
                                 {"change_at_frac": 1.0}, {"cot_share": 2.0},
                                 {"split_fractions": (0.5, 0.5, 0.5)}, {"start": "yesterday"}])
def test_config_rejects_bad_values(bad: dict, tmp_path: Path) -> None:
    with pytest.raises(SimulatorError):
        SimConfig(out=tmp_path, **bad)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relstream")
    commands = parser.add_subparsers(dest="command")
    bench = argparse.ArgumentParser().add_subparsers()
    cli.register(commands, bench)
    return parser


def test_cli_generates_and_prints_stats(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = _parser().parse_args(["simulate", "--out", str(tmp_path / "w"), "--items", "300",
                                 "--searches", "120", "--seed", "9"])
    assert args.func(args) == 0
    assert (tmp_path / "w" / "search_log.jsonl").is_file()
    args = _parser().parse_args(["simulate", "--stats", str(tmp_path / "w"), "--no-baseline"])
    assert args.func(args) == 0
    assert "grade mix by query kind" in capsys.readouterr().out


def test_cli_needs_out_or_stats() -> None:
    args = _parser().parse_args(["simulate"])
    with pytest.raises(SimulatorError, match="--out"):
        args.func(args)
