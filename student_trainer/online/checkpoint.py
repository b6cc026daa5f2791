"""The trainer's checkpoint: model, optimiser, replay buffer, validation set and Kafka
offsets in one file, written atomically.

Everything that decides what the trainer does next lives in one file so a restart after
SIGKILL resumes from one consistent point: the offsets in the file are exactly the labels
the weights in the file have seen. The file is written to a temporary sibling, fsynced,
`os.replace`d over the old one and the directory fsynced, so a kill at any moment leaves
either the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import os
import pickle
import uuid
from pathlib import Path
from typing import Any

from relstream.core.registry import fsync_path
from student_trainer.errors import StudentTrainerError

FORMAT = "relstream-online-v1"
TMP_SUFFIX = ".tmp-"


class OnlineCheckpointError(StudentTrainerError):
    """A checkpoint cannot be read or is not an online-trainer checkpoint."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Write `state` (plus the format tag) to `path` atomically; returns `path`."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{TMP_SUFFIX}{uuid.uuid4().hex}")
    try:
        with open(tmp, "wb") as fh:
            torch.save({"format": FORMAT, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_path(path.parent)
    return path


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at `path`, or None when there is none yet. Stale temp files of a
    killed save are removed first: for the trainer starting up only (while a trainer runs,
    its temp file is a save in progress; other readers use `read_checkpoint`)."""
    clean_temp_files(path)
    return read_checkpoint(path)


def read_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at `path` (None when there is none yet), touching nothing else: safe
    beside a running trainer, whose saves replace the file atomically."""
    import torch

    path = Path(path)
    if not path.exists():
        return None
    from student_trainer.data import Example

    try:
        # No pickled code runs: tensors, plain containers and, allow-listed, `Example`
        # (the replay buffer's and validation set's items: a frozen dataclass of strings
        # and numbers, rebuilt without calling anything).
        with torch.serialization.safe_globals([Example]):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise OnlineCheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise OnlineCheckpointError(f"{path} is not a {FORMAT} checkpoint")
    return state


def clean_temp_files(path: Path) -> list[Path]:
    """Remove `<name>.tmp-*` siblings a killed save left behind."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = [p for p in path.parent.iterdir() if p.name.startswith(path.name + TMP_SUFFIX)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
