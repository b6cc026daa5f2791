"""The serving commands are registered and parse their arguments."""

from __future__ import annotations

from pathlib import Path

from relstream.cli import build_parser


def test_serving_commands_parse() -> None:
    parser = build_parser()
    serve = parser.parse_args(["serve", "--port", "9000", "--catalog", "c.jsonl", "--follow"])
    assert serve.port == 9000 and serve.catalog == Path("c.jsonl") and serve.follow
    report = parser.parse_args(["ab-report", "--experiment", "e1", "--pre-experiment", "e0"])
    assert (report.experiment, report.pre_experiment, report.alpha) == ("e1", "e0", 0.05)
    sim = parser.parse_args(["ab-simulate", "--world", "w", "--searches", "10"])
    assert sim.world == Path("w") and sim.searches == 10
    bench = parser.parse_args(["bench", "serving", "--clients", "4", "--rescore-k", "5"])
    assert bench.clients == 4 and bench.rescore_k == 5 and bench.swaps == 20
    assert bench.out == Path("docs/results") and bench.candidates == 100
