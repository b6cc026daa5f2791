"""A shop's own teacher, end to end: `teacher annotate` through a real `vllm serve`, then
`teacher sft` on what it kept (issue 20 item 5).

The shop is a small simulated world stripped to `catalog.jsonl` and `labels.jsonl` — no
splits, no search log, no simulator CoTs — so annotation reads nothing a real shop would
not have. The annotator is the real vLLM OpenAI-compatible server on the tiny format model
(it answers every prompt with one fixed valid CoT ending in `Grade: E`), reached through
`RELSTREAM_TEACHER_OPENAI_URL` and the chat API exactly as a large annotator would be.
What is checked:
- only the train split's pairs are sent (query hash, as every other command splits);
- a pair is kept only when >= k of its n samples parse and end in its *human* grade, and
  the kept CoT is one of them; every other pair is in the rejected file with the reason
  and the grade each sample gave; both outcomes occur (the annotator's fixed E agrees
  with the E pairs only);
- a rerun sends nothing (resume) and leaves the files as they were;
- `teacher sft` on the kept annotations trains the given steps on exactly those examples,
  and its output is a plain model the transformers backend loads, whose weights moved
  away from the base and whose generations on the shop's unseen test pairs parse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from relstream.core.cot import parse_cot
from relstream.core.shop_files import load_catalog, load_labels, split_of_query

pytestmark = pytest.mark.integration

N, K, LIMIT = 2, 1, 20
KEEP = {"catalog.jsonl", "labels.jsonl"}


def _relstream(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the CLI; its last stdout line is the command's JSON summary."""
    done = subprocess.run([sys.executable, "-m", "relstream.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]) if args[1] == "annotate" else {}


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate

    world = simulate(SimConfig(out=tmp_path_factory.mktemp("shop"), seed=11, items=200,
                               searches=60, days=0.05))
    for path in list(world.iterdir()):
        if path.name not in KEEP:
            path.unlink()
    assert {p.name for p in world.iterdir()} == KEEP
    return world


@dataclass(frozen=True)
class Annotated:
    """One `teacher annotate` run: its output file, command, environment and summary."""

    out: Path
    args: list[str]
    env: dict[str, str]
    stats: dict[str, Any]

    @property
    def rejected(self) -> Path:
        return self.out.with_name(self.out.name + ".rejected.jsonl")


@pytest.fixture(scope="module")
def annotated(shop: Path, vllm_teacher: Any, tmp_path_factory: pytest.TempPathFactory
              ) -> Annotated:
    out = tmp_path_factory.mktemp("annotate") / "cot.jsonl"
    env = {"RELSTREAM_TEACHER_OPENAI_URL": vllm_teacher.url,
           "RELSTREAM_TEACHER_OPENAI_MODEL": vllm_teacher.settings.teacher_openai_model}
    args = ["teacher", "annotate", "--world", str(shop), "--out", str(out), "--n", str(N),
            "--k", str(K), "--limit", str(LIMIT), "--max-tokens", "64", "--batch", "8"]
    return Annotated(out, args, env, _relstream(*args, env=env))


def test_annotate_keeps_only_self_consistent_pairs(shop: Path, annotated: Annotated) -> None:
    stats = annotated.stats
    labels = load_labels(shop)
    kept, rejected = _rows(annotated.out), _rows(annotated.rejected)
    train_pairs = [p for p in labels if split_of_query(p[0]) == "train"]
    assert stats["pairs"] == stats["annotated"] == min(LIMIT, len(train_pairs))
    assert stats["samples"] == N * stats["pairs"] and stats["completion_tokens"] > 0
    assert len(kept) + len(rejected) == stats["pairs"]
    assert stats["kept"] == len(kept) and stats["rejected_disagree"] + stats[
        "rejected_no_parse"] == len(rejected)
    # Both outcomes happen: the annotator's one answer (E) agrees with some human grades.
    assert kept and rejected
    for row in kept + rejected:
        assert split_of_query(row["query"]) == "train", row
        assert row["grade"] == labels[(row["query"], row["item_id"])]
        assert len(row["sample_grades"]) == N
    for row in kept:
        steps = parse_cot(row["cot"])
        assert steps.grade == row["grade"], row
        assert steps.model_dump() == row["steps"]
        assert row["sample_grades"].count(row["grade"]) >= K
    for row in rejected:
        assert row["sample_grades"].count(row["grade"]) < K, row
        expected = ("no_parse" if all(g is None for g in row["sample_grades"])
                    else "disagree")
        assert row["reason"] == expected, row
    assert stats["rejected_disagree"] > 0, "no pair was rejected for disagreeing grades"


def test_rerun_resumes_without_calls(annotated: Annotated) -> None:
    before = (annotated.out.read_bytes(), annotated.rejected.read_bytes())
    stats = _relstream(*annotated.args, env=annotated.env)
    assert stats["annotated"] == 0 and stats["skipped_already_done"] == stats["pairs"]
    assert (annotated.out.read_bytes(), annotated.rejected.read_bytes()) == before


def test_sft_on_the_kept_annotations(shop: Path, annotated: Annotated, tiny_format_dir: Path,
                                     tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from teacher_worker.backends.transformers_backend import TransformersBackend

    out = annotated.out
    model = tmp_path / "shop-teacher"
    _relstream("teacher", "sft", "--world", str(shop), "--annotations", str(out),
               "--base", str(tiny_format_dir), "--out", str(model), "--device", "cpu",
               "--no-bf16", "--steps", "4", "--batch", "4", "--save-every", "2",
               "--lora-r", "4", "--lr", "5e-3")
    summary = json.loads((model / "sft_summary.json").read_text())
    assert summary["steps"] == 4 and summary["examples"] == len(_rows(out))
    assert summary["base"] == str(tiny_format_dir)

    tuned, base = load_file(model / "model.safetensors"), load_file(
        tiny_format_dir / "model.safetensors")
    lora_targets = [name for name in base if ".q_proj." in name]
    assert lora_targets and any(not torch.equal(tuned[n], base[n]) for n in lora_targets), \
        "the merged weights equal the base: no LoRA update was merged"

    catalog, labels = load_catalog(shop), load_labels(shop)
    test_pairs = sorted(p for p in labels if split_of_query(p[0]) == "test")[:6]
    assert test_pairs
    backend = TransformersBackend(model, device="cpu", max_new_tokens=48)
    for judgement in backend.judge([(q, catalog[i]) for q, i in test_pairs]):
        parse_cot(judgement.cot)
        assert judgement.marker_found, judgement.cot
        assert sum(judgement.grade_probs.values()) == pytest.approx(1.0, abs=1e-4)
