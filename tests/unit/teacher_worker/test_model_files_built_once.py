"""A model directory in the shared cache is built by one process at a time: two test
workers asking for the same tiny model at once get one build, and both get the model."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from teacher_worker.model_files import _built_once, _complete


def _build(out_dir: Path, log: Path) -> Path:
    with log.open("a") as fh:
        fh.write("build\n")
    time.sleep(0.5)  # long enough for the other process to arrive mid-build
    out_dir.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (out_dir / name).write_text("{}")
    return out_dir


def _ask(out_dir: Path, log: Path, results: Path) -> None:
    got = _built_once(out_dir, lambda: _build(out_dir, log))
    with results.open("a") as fh:
        fh.write(f"{got}\n")


def test_two_processes_at_once_build_the_model_once(tmp_path: Path) -> None:
    out_dir, log, results = tmp_path / "models" / "tiny", tmp_path / "log", tmp_path / "res"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_ask, args=(out_dir, log, results)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert log.read_text().splitlines() == ["build"]
    assert results.read_text().splitlines() == [str(out_dir)] * 2
    assert _complete(out_dir)
    # Complete already: no lock taken, nothing built again.
    assert _built_once(out_dir, lambda: _build(out_dir, log)) == out_dir
    assert log.read_text().splitlines() == ["build"]
