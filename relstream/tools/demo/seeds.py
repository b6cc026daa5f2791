"""`relstream demo --seeds 1-5`: the demo on several worlds, read with the pre-registered rule.

The rule (docs/demo.md, "Pre-registered: the multi-seed verdict") was committed before the
runs it judges; `RULE_MARKER` finds that commit, recorded as `rule_commit`. Per seed: the
continuous − frozen NDCG@10 of the served lists on the new brand's queries and on every
other query, over the last half of the experiment; a **win** is a brand effect of at least
`WIN_DIFF` with the other queries not significantly worse. Pooled: the mean brand effect
over seeds with a 95 % t-interval. One vLLM server serves every run; each run is its own
`relstream demo` process (embedded ClickHouse admits one data path per process).
"""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path
from typing import Any

from relstream.core.reporting import parse_seeds

__all__ = ["parse_seeds", "pooled", "rule_commit", "run_argv", "run_seeds", "seed_row"]

RULE_MARKER = "PRE-REGISTERED RULE v5"
REPO = Path(__file__).resolve().parents[3]
"""The checkout this module runs from (relstream/tools/demo/seeds.py → the repo root)."""
WIN_DIFF = 0.05
ALPHA = 0.05


def _ndcg(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if not report:
        return None
    return next((c for c in report.get("comparisons", []) if c["metric"] == "ndcg@10"), None)


def seed_row(seed: int, summary: dict[str, Any] | None, error: str = "") -> dict[str, Any]:
    """One seed's effects and win under the rule; a run without a report is a loss."""
    brand = _ndcg(summary.get("new_brand_late")) if summary else None
    other = _ndcg(summary.get("other_late")) if summary else None
    v1 = [r for r in (summary or {}).get("final_models_on_prelaunch_pairs") or []
          if r.get("arm") == "frozen"]
    row: dict[str, Any] = {
        "seed": seed,
        "v1_auc_prelaunch": v1[0]["auc"] if v1 else None,
        "brand_ndcg_diff": brand["diff"] if brand else None,
        "brand_p": brand["p"] if brand else None,
        "other_ndcg_diff": other["diff"] if other else None,
        "other_p": other["p"] if other else None,
        "brand_labels": ((summary or {}).get("teacher_labels") or {}).get("new_brand_queries"),
    }
    other_hurt = other is not None and other["diff"] < 0 and other["p"] < ALPHA
    row["win"] = bool(brand is not None and other is not None
                      and brand["diff"] >= WIN_DIFF and not other_hurt)
    if error or brand is None or other is None:
        row["error"] = error or "no report for the brand's or the other queries' late window"
    return row


def pooled(diffs: list[float]) -> dict[str, float]:
    """Mean of the per-seed effects with a 95 % t-interval over seeds."""
    from relstream.core.reporting import mean_ci

    ci = mean_ci(diffs)
    return {"diff": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
            "n": ci["n"]}


def rule_commit(repo: Path) -> str | None:
    """The commit that wrote the pre-registered rule into docs/demo.md (None outside git)."""
    try:
        out = subprocess.run(
            ["git", "log", "--reverse", "--format=%H", "-S", RULE_MARKER, "--", "docs/demo.md"],
            cwd=repo, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    return lines[0] if out.returncode == 0 and lines else None


def _shared_teacher(plan: Any, out: Path) -> Any:
    """Start one vLLM server for every run (unless one answers) and point the runs at it."""
    from relstream.stack import free_port
    from teacher_worker.settings import TeacherSettings
    from teacher_worker.vllm_server import base_url, server_ready, start_server, wait_ready

    teacher = TeacherSettings()
    if plan.teacher != "llm" or server_ready(teacher.teacher_openai_url):
        return None
    served = teacher.model_copy(update={"vllm_port": free_port(),
                                        "vllm_cpus": plan.vllm_cores()})
    log = out / "vllm.log"
    out.mkdir(parents=True, exist_ok=True)
    proc = start_server(served, log)
    wait_ready(base_url(served), proc, plan.vllm_start_timeout_s, log)
    os.environ["RELSTREAM_TEACHER_OPENAI_URL"] = base_url(served)
    return proc


def run_argv(plan: Any, seed: int, out: Path) -> list[str]:
    """The command line of one seed's run: the plan's knobs that the CLI can set."""
    import sys

    argv = [sys.executable, "-m", "relstream.cli", "demo", "--seed", str(seed), "--out",
            str(out), "--bootstrap-labels", str(plan.bootstrap_labels),
            "--knockoffs", str(plan.knockoffs), "--new-query-hours", str(plan.new_query_hours),
            "--student-ema", str(plan.student_ema_decay),
            "--student-rehearsal", str(plan.student_rehearsal_recent)]
    if plan.mode != "full":
        argv.append(f"--{plan.mode}")
    if plan.teacher != "llm":
        argv += ["--teacher", plan.teacher]
    return argv


def _one_run(plan: Any, seed: int, out: Path, log: Path) -> str:
    """`relstream demo` for one seed in a child process (chdb admits one data path per
    process, and the report opens each run's own); returns an error or ""."""
    argv = run_argv(plan, seed, out)
    with log.open("ab") as fh:
        proc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT)
    return "" if proc.returncode == 0 else f"the run exited with {proc.returncode} (see {log})"


def run_seeds(settings: Any, plan: Any, out: Path, seeds: list[int], results: Path,
              command: str) -> int:
    """Run the demo once per seed under `out/seed-<n>`, then tabulate and save the verdict."""
    import json

    from relstream.core.reporting import save_results
    from relstream.tools.demo.plan import say
    from teacher_worker.hardware import cpu_has_native_bf16
    from teacher_worker.vllm_server import stop_group

    commit = rule_commit(REPO)
    say(f"== {len(seeds)} demo runs ({plan.mode}), seeds {seeds}; rule commit {commit}")
    note = plan.slow_teacher_note()
    if note:
        say(note)
    out.mkdir(parents=True, exist_ok=True)
    proc = _shared_teacher(plan, out)
    rows = []
    try:
        for seed in seeds:
            run_out = out / f"seed-{seed}"
            say(f"== seed {seed}: relstream demo --{plan.mode} --seed {seed} --out {run_out} "
                f"(console in {out / f'seed-{seed}.log'})")
            error, summary = "", None
            try:
                error = _one_run(plan, seed, run_out, out / f"seed-{seed}.log")
                path = run_out / "report" / "summary.json"
                summary = json.loads(path.read_text()) if path.exists() else None
            except Exception as exc:  # one failed seed is reported, the others still run
                error = f"{type(exc).__name__}: {exc}"
            rows.append(seed_row(seed, summary, error))
            say(f"== seed {seed}: " + ", ".join(f"{k} {v}" for k, v in rows[-1].items()))
    finally:
        if proc is not None:
            stop_group(proc)
    wins = sum(r["win"] for r in rows)
    pool = pooled([r["brand_ndcg_diff"] for r in rows if r["brand_ndcg_diff"] is not None])
    goal = math.ceil(0.8 * len(seeds))
    notes = (f"Rule ({RULE_MARKER}, commit {commit}): a win is continuous - frozen NDCG@10 >= "
             f"{WIN_DIFF} on the new brand's queries in the last {1 - plan.verdict_from:.0%} "
             f"of the experiment, with the other queries not significantly worse (Welch, "
             f"alpha {ALPHA}). Wins {wins} of {len(rows)} (goal >= {goal}). Pooled brand "
             f"effect {pool['diff']:+.4f}, 95% CI [{pool['ci_low']:+.4f}, "
             f"{pool['ci_high']:+.4f}] over {pool['n']} seeds.")
    save_results("demo-seeds", rows, results, command=command, notes=notes,
                 extra={"rule_commit": commit, "seeds": rows, "wins": wins, "goal_wins": goal,
                        "pooled": pool, "plan": plan.to_json(),
                        "cpu_bf16": cpu_has_native_bf16()})
    return 0
