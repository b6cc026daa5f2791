"""One registry setting for every service: `registry`, RELSTREAM_REGISTRY_DIR, `registry_dir()`."""

from __future__ import annotations

from pathlib import Path

import pytest

from relstream.core.settings import CommonSettings
from serving.settings import ServingSettings
from student_trainer.config import TrainerSettings
from student_trainer.online.settings import OnlineSettings
from teacher_worker.settings import TeacherSettings

SERVICES = (CommonSettings, ServingSettings, TrainerSettings, OnlineSettings)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("RELSTREAM_REGISTRY_DIR", "RELSTREAM_REGISTRY_ROOT", "RELSTREAM_REGISTRY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RELSTREAM_STATE_DIR", str(tmp_path / "state"))


@pytest.mark.parametrize("cls", SERVICES)
def test_one_variable_moves_the_registry_of_every_service(
    cls: type[CommonSettings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    assert cls().registry_dir() == tmp_path / "state" / "registry"
    monkeypatch.setenv("RELSTREAM_REGISTRY_DIR", "")
    assert cls().registry_dir() == tmp_path / "state" / "registry"
    monkeypatch.setenv("RELSTREAM_REGISTRY_DIR", str(tmp_path / "shared"))
    assert cls().registry_dir() == tmp_path / "shared"
    assert cls(registry=tmp_path / "flag").registry_dir() == tmp_path / "flag"  # flags win


@pytest.mark.parametrize("old", ["RELSTREAM_REGISTRY_ROOT", "RELSTREAM_REGISTRY"])
def test_no_other_variable_is_read(old: str, monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path) -> None:
    monkeypatch.setenv(old, str(tmp_path / "elsewhere"))
    for cls in SERVICES:
        assert cls().registry_dir() == tmp_path / "state" / "registry"


@pytest.mark.parametrize("old", ["registry_root", "registry_dir"])
def test_the_old_keyword_names_fail_loudly(old: str, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="is now registry="):
        ServingSettings(**{old: tmp_path})


def test_the_setting_survives_a_model_dump(tmp_path: Path) -> None:
    common = CommonSettings(registry=tmp_path / "reg")
    assert common.model_dump()["registry"] == tmp_path / "reg"
    assert TeacherSettings(**common.model_dump()).registry_dir() == tmp_path / "reg"
    moved = OnlineSettings().model_copy(update={"registry": tmp_path / "copy"})
    assert moved.registry_dir() == tmp_path / "copy"
