"""The teacher CLI registers its commands and parses them without heavy imports."""

from __future__ import annotations

import argparse
import sys

from relstream.cli.teacher import register


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    bench = commands.add_parser("bench").add_subparsers(dest="bench")
    register(commands, bench)
    return parser


def test_commands_parse() -> None:
    parser = _parser()
    args = parser.parse_args(["teacher", "run", "--idle-exit", "5", "--backend", "openai"])
    assert args.idle_exit == 5 and args.backend == "openai" and callable(args.func)
    args = parser.parse_args(["teacher", "sft", "--world", "w", "--steps", "3"])
    assert args.steps == 3
    args = parser.parse_args(["teacher", "eval", "--world", "w", "--limit", "10"])
    assert args.limit == 10
    args = parser.parse_args(["bench", "teacher", "--pairs", "4"])
    assert args.pairs == 4


def test_cli_module_does_not_import_torch_at_top() -> None:
    before = set(sys.modules)
    import importlib

    importlib.reload(importlib.import_module("relstream.cli.teacher"))
    assert "transformers" not in set(sys.modules) - before
