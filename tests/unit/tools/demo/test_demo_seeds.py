"""The multi-seed verdict: seed lists, the pre-registered win rule, the pooled interval."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from relstream.tools.demo.seeds import parse_seeds, pooled, run_argv, seed_row


def _summary(brand: tuple[float, float], other: tuple[float, float], v1_auc: float = 0.9
             ) -> dict[str, Any]:
    def report(diff: float, p: float) -> dict[str, Any]:
        return {"comparisons": [{"metric": "clicks_per_search", "diff": 9.0, "p": 0.0},
                                {"metric": "ndcg@10", "diff": diff, "p": p}]}
    return {"new_brand_late": report(*brand), "other_late": report(*other),
            "final_models_on_prelaunch_pairs": [{"arm": "frozen", "auc": v1_auc},
                                                {"arm": "continuous", "auc": 0.5}]}


def test_parse_seeds() -> None:
    assert parse_seeds("1-5") == [1, 2, 3, 4, 5]
    assert parse_seeds("3, 7,9") == [3, 7, 9]
    for bad in ("", "1,1", "x"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_the_win_rule() -> None:
    win = seed_row(1, _summary((0.06, 0.01), (-0.01, 0.40)))
    assert win["win"] and win["v1_auc_prelaunch"] == 0.9 and "error" not in win
    assert win["brand_ndcg_diff"] == 0.06 and win["other_p"] == 0.40
    assert win["brand_labels"] is None  # a summary from before the count existed
    counted = _summary((0.06, 0.01), (-0.01, 0.40)) | {
        "teacher_labels": {"all": 700, "new_brand_queries": 120}}
    assert seed_row(1, counted)["brand_labels"] == 120
    assert not seed_row(2, _summary((0.049, 1e-9), (0.0, 1.0)))["win"]  # below +0.05
    assert not seed_row(3, _summary((0.2, 1e-9), (-0.01, 0.01)))["win"]  # others hurt
    assert seed_row(4, _summary((0.2, 1e-9), (0.03, 0.01)))["win"]  # others better: fine
    lost = seed_row(5, None, "RuntimeError: boom")
    assert not lost["win"] and lost["error"] == "RuntimeError: boom"
    assert lost["brand_ndcg_diff"] is None and lost["v1_auc_prelaunch"] is None


def test_pooled_t_interval() -> None:
    found = pooled([0.1, 0.0, 0.2, 0.1, 0.1])
    sd = math.sqrt(0.02 / 4)
    half = 2.7764451051977987 * sd / math.sqrt(5)  # t(0.975, 4)
    assert found["diff"] == pytest.approx(0.1)
    assert found["ci_low"] == pytest.approx(0.1 - half)
    assert found["ci_high"] == pytest.approx(0.1 + half)
    assert math.isnan(pooled([0.3])["ci_low"])


def test_rule_commit_is_found_in_this_checkout() -> None:
    """The commit that wrote the rule is found from the installed module (it once looked
    in the package folder, not the repo root, and recorded None)."""
    import subprocess

    from relstream.tools.demo.seeds import REPO, RULE_MARKER, rule_commit

    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    commit = rule_commit(REPO)
    assert commit is not None and len(commit) == 40
    added = subprocess.run(["git", "show", commit, "--", "docs/demo.md"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout
    assert f"+{RULE_MARKER}" in added


def test_each_seed_runs_with_the_plans_knobs(tmp_path: Path) -> None:
    """A seed's child run gets the knobs of the plan `--seeds` was given, through the CLI
    flags that set them (and the CLI maps those flags back onto the same plan)."""
    import argparse
    from dataclasses import replace

    from relstream.cli import demo as demo_cli
    from relstream.tools.demo.plan import QUICK

    plan = replace(QUICK, new_query_hours=0, knockoffs=1.0, bootstrap_labels=300,
                   student_ema_decay=0.9)
    argv = run_argv(plan, 12, tmp_path / "seed-12")
    assert argv[argv.index("--new-query-hours") + 1] == "0"
    assert argv[argv.index("--knockoffs") + 1] == "1.0" and "--quick" in argv
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    demo_cli.register(commands, commands.add_parser("bench").add_subparsers())
    args = parser.parse_args(argv[argv.index("demo"):])
    assert (args.seed, args.new_query_hours, args.knockoffs, args.bootstrap_labels,
            args.student_ema) == (12, 0, 1.0, 300, 0.9)


def test_a_cpu_without_bf16_is_warned_about_before_the_llm_teacher_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a CPU without bf16 instructions vLLM runs float32 at a third of the quick plan's
    label budget; the demo says so (the lexical baseline needs no warning)."""
    from dataclasses import replace

    from relstream.tools.demo.plan import QUICK
    from teacher_worker import hardware, vllm_server

    monkeypatch.setattr(vllm_server, "gpu_present", lambda: False)
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    note = QUICK.slow_teacher_note()
    assert note is not None and "float32" in note and "3/s" in note
    assert replace(QUICK, teacher="lexical").slow_teacher_note() is None
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    assert QUICK.slow_teacher_note() is None
