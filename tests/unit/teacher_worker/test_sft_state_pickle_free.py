"""The SFT resume state is read with `weights_only=True`: code in the pickle never runs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from teacher_worker.errors import TeacherWorkerError
from teacher_worker.sft import read_state


class WritesAFile:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return Path.touch, (self.marker,)


def test_a_state_pt_that_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    torch.save({"step": 1, "x": WritesAFile(marker)}, tmp_path / "state.pt")
    with pytest.raises(TeacherWorkerError, match="cannot read SFT checkpoint state"):
        read_state(tmp_path / "state.pt")
    assert not marker.exists()


def test_the_real_state_round_trips(tmp_path: Path) -> None:
    """What `_save_checkpoint` writes: optimiser, LambdaLR scheduler, both RNGs, config."""
    params = [torch.nn.Parameter(torch.ones(3))]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    params[0].sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (s + 1))
    rng = random.Random(3)
    torch.save({"step": 2, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": rng.getstate(),
                "torch_rng": torch.get_rng_state(),
                "config": {"target_modules": ("q_proj", "v_proj"), "lr": 1e-3}},
               tmp_path / "state.pt")
    state = read_state(tmp_path / "state.pt")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rng.setstate(state["rng"])
    assert state["step"] == 2 and rng.random() == random.Random(3).random()
