"""Prequential points: summaries, time buckets, the JSONL file with restart duplicates,
the stand-in teacher's labels, and the CLI registration."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relstream.core.schemas import CatalogItem, LabelRequest, TeacherLabel
from student_trainer.online.prequential import (
    PrequentialPoint,
    curve,
    read_points_jsonl,
    summarise,
    write_points_jsonl,
)
from teacher_worker.backends.lexical_backend import LexicalTeacher

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _point(seq: int, score: float, teacher: str, truth: str | None, brand: bool = False
           ) -> PrequentialPoint:
    return PrequentialPoint(seq, T0 + timedelta(minutes=seq), "q", f"i{seq}", score,
                            "E" if score > 0.5 else "I", teacher, truth, brand)


def test_summary_against_teacher_and_truth() -> None:
    pts = [_point(0, 0.9, "E", "I"), _point(1, 0.2, "I", "E"), _point(2, 0.1, "I", "I"),
           _point(3, 0.8, "E", None)]
    s = summarise(pts)
    assert s["auc"] == 1.0 and s["acc"] == 1.0 and s["n"] == 4
    # ground truth, 3 judged points: the E (0.2) beats one I (0.1), not the other (0.9)
    assert s["truth_auc"] == 0.5
    assert summarise([])["n"] == 0


def test_curve_uses_equal_count_buckets_in_time_order() -> None:
    pts = [_point(i, (i % 2) * 0.9, "E" if i % 2 else "I", "E" if i % 2 else "I", i >= 6)
           for i in range(12)]
    rows = curve(list(reversed(pts)), buckets=3)
    assert [r["n"] for r in rows] == [4, 4, 4]
    assert rows[0]["start"] == T0 and all(r["auc"] == 1.0 for r in rows)
    assert sum(r["n"] for r in curve(pts, 2, new_brand_only=True)) == 6


def test_jsonl_keeps_one_point_per_label_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    write_points_jsonl([_point(i, 0.1, "I", None) for i in range(5)], path)
    # a restart from a checkpoint at label 3 scores labels 3 and 4 again
    write_points_jsonl([_point(i, 0.7, "E", None) for i in (3, 4)], path)
    back = read_points_jsonl(path)
    assert [p.seq for p in back] == [0, 1, 2, 3, 4]
    assert back[3].score == 0.7 and back[0].score == 0.1


def test_stand_in_teacher_writes_parsable_cot_and_sensible_grades() -> None:
    shoe = CatalogItem(item_id="s", title="Stride Runner running shoe black",
                       category="Shoes > Running Shoes", brand="Stride",
                       attributes={"color": "black"})
    mug = CatalogItem(item_id="m", title="Brewco coffee mug", category="Kitchen > Mugs",
                      brand="Brewco")
    reqs = [LabelRequest(ts=T0, event_id=f"r{k}", query="stride running shoes black",
                         item_id=item.item_id, item=item) for k, item in enumerate((shoe, mug))]
    exact, other = LexicalTeacher().label(reqs)
    assert isinstance(exact, TeacherLabel) and isinstance(other, TeacherLabel)
    assert exact.grade == "E" and other.grade == "I"
    assert exact.teacher.model == "lexical-stand-in"
    assert {c.dimension for c in exact.steps.checks} >= {"type", "brand", "color"}
    assert abs(sum(other.grade_probs.values()) - 1) < 1e-6


def test_cli_adds_online_under_the_existing_train_command() -> None:
    from relstream.cli import train_online as cli
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    bench = commands.add_parser("bench").add_subparsers(dest="bench")
    train = commands.add_parser("train").add_subparsers(dest="train_command")
    train.add_parser("offline")
    cli.register(commands, bench)
    args = parser.parse_args(["train", "online", "--tiny", "--max-labels", "5"])
    assert args.func is cli.run_online_cmd and args.tiny and args.max_labels == 5
    assert parser.parse_args(["train", "offline"]).train_command == "offline"
    assert parser.parse_args(["bench", "freshness", "--tiny"]).func is cli.run_freshness_cmd
    assert parser.parse_args(["train", "online-plot", "--world", "w"]).func is cli.run_plot_cmd
