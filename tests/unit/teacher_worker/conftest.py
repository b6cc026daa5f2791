"""Fixtures for the teacher tests: tiny SmolLM2-tokenizer models, built once and cached.

The first run converts the SmolLM2 GGUF (~40 s) into `<cache_dir>/models`; later runs
and CI on the same machine reuse it, so each test loads a tiny model in about a second.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_dir(cache_dir: Path) -> Path:
    """2 layers, hidden 128, random weights, the SmolLM2 tokenizer."""
    from teacher_worker.model_files import tiny_model_dir

    return tiny_model_dir(cache_dir)


@pytest.fixture(scope="session")
def tokenizer(tiny_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_dir)
