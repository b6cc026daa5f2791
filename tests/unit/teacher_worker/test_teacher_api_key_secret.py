"""The OpenAI-compatible server's API key is a `SecretStr`: it reaches the Authorization
header and nothing else (settings repr, dumps, logs of the settings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from teacher_worker.backends.openai_backend import OpenAIBackend
from teacher_worker.settings import TeacherSettings


def test_api_key_is_sent_but_never_shown(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELSTREAM_TEACHER_OPENAI_API_KEY", "k3y-s3cret")
    settings = TeacherSettings(teacher_model_dir=tmp_path, state_dir=tmp_path)
    for shown in (repr(settings), str(settings), settings.model_dump_json(),
                  str(settings.model_dump())):
        assert "k3y-s3cret" not in shown
    backend = OpenAIBackend.from_settings(settings)
    assert backend.client.headers["Authorization"] == "Bearer k3y-s3cret"
    backend.client.close()
