"""The demo's inputs: the simulated `new-brand` world and its log split at the launch.

The world is generated once per (seed, sizes) and reused by later runs with the same
plan. The search log is split at `change_at` into `search_log.pre.jsonl` and
`search_log.post.jsonl`, so the demo can replay the pre-launch stream, wait for the first
student version (the frozen arm), and only then replay the launch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from relstream.tools.demo.plan import DemoError, DemoPlan


@dataclass(frozen=True)
class World:
    dir: Path
    start: float
    end: float
    change_at: float
    new_brand: str
    new_brand_queries: list[str]
    knockoffs: int
    """Other sellers' listings titled after the new brand, launched with it."""
    pre_log: Path
    post_log: Path
    pre_events: int
    post_events: int

    @property
    def catalog(self) -> Path:
        return self.dir / "catalog.jsonl"

    @property
    def labels(self) -> Path:
        return self.dir / "labels.jsonl"

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _wanted(plan: DemoPlan) -> dict[str, object]:
    return {"seed": plan.seed, "items": plan.items, "days": plan.days,
            "searches": plan.searches, "scenario": "new-brand",
            "change_at_frac": plan.change_at, "knockoffs": plan.knockoffs}


def make_world(plan: DemoPlan, out: Path) -> tuple[World, bool]:
    """The world of `plan` in `out` (generated unless already there); True if generated."""
    from relstream.core.shop_files import load_scenario
    from relstream.tools.simulator.config import SimConfig

    scenario_file = out / "scenario.json"
    generated = False
    reuse = False
    if scenario_file.is_file():
        config = json.loads(scenario_file.read_text()).get("config", {})
        config.setdefault("knockoffs", 0.0)  # not written when 0
        reuse = all(config.get(k) == v for k, v in _wanted(plan).items())
    if not reuse:
        from relstream.tools.simulator.world import simulate

        simulate(SimConfig(out=out, seed=plan.seed, items=plan.items, days=plan.days,
                           searches=plan.searches, scenario="new-brand",
                           change_at_frac=plan.change_at, knockoffs=plan.knockoffs))
        generated = True
    scenario = load_scenario(out)
    if not scenario.get("change_at") or not scenario.get("new_brand"):
        raise DemoError(f"{scenario_file} has no new-brand launch (change_at, new_brand)")
    change_at = _epoch(scenario["change_at"])
    pre, post = out / "search_log.pre.jsonl", out / "search_log.post.jsonl"
    n_pre, n_post = split_log(out / "search_log.jsonl", change_at, pre, post)
    return World(out, _epoch(scenario["start"]), _epoch(scenario["end"]), change_at,
                 scenario["new_brand"], list(scenario.get("new_brand_queries", [])),
                 len(scenario.get("knockoff_item_ids", [])), pre, post, n_pre, n_post), generated


def split_log(log: Path, change_at: float, pre: Path, post: Path) -> tuple[int, int]:
    """Copy each line of `log` to `pre` (before `change_at`) or `post`; returns the counts."""
    n_pre = n_post = 0
    with log.open("rb") as src, pre.open("wb") as a, post.open("wb") as b:
        for line in src:
            if not line.strip():
                continue
            ts = json.loads(line)["ts"]
            if _epoch(ts) < change_at:
                a.write(line)
                n_pre += 1
            else:
                b.write(line)
                n_post += 1
    return n_pre, n_post
