"""Each service's default embedded ClickHouse is its own: side by side, no lock error."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from feature_store.config import FeatureStoreSettings
from relstream.core.settings import CommonSettings
from serving.settings import ServingSettings
from streams.processor.settings import ProcessorSettings
from student_trainer.config import TrainerSettings
from student_trainer.online.settings import OnlineSettings
from teacher_worker.settings import TeacherSettings

ROLES = {
    "teacher": "teacher_worker.settings:TeacherSettings",
    "trainer": "student_trainer.online.settings:OnlineSettings",
    "streams": "streams.processor.settings:ProcessorSettings",
    "serving": "serving.settings:ServingSettings",
}

# Opens the role's default chdb, writes a row, then holds the path open until `go` exists
# (so every role is open at once), then reads its row back.
_CHILD = """
import importlib, pathlib, sys, time
from relstream.core.clickhouse import get_client
module, name = sys.argv[1].split(":")
settings = getattr(importlib.import_module(module), name)()
client = get_client(settings)
client.command("CREATE TABLE IF NOT EXISTS t (role String) ENGINE = MergeTree ORDER BY role")
client.insert("t", [[sys.argv[2]]], ["role"])
pathlib.Path(sys.argv[3], sys.argv[2] + ".open").write_text(str(settings.chdb_path()))
deadline = time.monotonic() + 120
while not pathlib.Path(sys.argv[3], "go").exists() and time.monotonic() < deadline:
    time.sleep(0.1)
print(client.query("SELECT role, count() FROM t GROUP BY role").result_rows)
"""


@pytest.fixture
def no_clickhouse_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELSTREAM_CLICKHOUSE_URL", raising=False)


@pytest.mark.usefixtures("no_clickhouse_env")
def test_every_role_has_its_own_default_path_and_serving_keeps_the_reports_one(
    tmp_path: Path,
) -> None:
    paths = {name: cls(state_dir=tmp_path).chdb_path() for name, cls in {
        "teacher": TeacherSettings, "trainer": TrainerSettings, "online": OnlineSettings,
        "streams": ProcessorSettings, "serving": ServingSettings,
        "reports": CommonSettings, "feast": FeatureStoreSettings}.items()}
    assert paths["teacher"] == tmp_path / "teacher" / "clickhouse"
    assert paths["trainer"] == paths["online"] == tmp_path / "trainer" / "clickhouse"
    assert paths["streams"] == tmp_path / "streams" / "clickhouse"
    # `relstream serve ab-report` and the demo's report read the server's data with
    # ServingSettings / CommonSettings: the same path, as before.
    assert paths["serving"] == paths["reports"] == tmp_path / "clickhouse"
    assert len({paths[r] for r in ("teacher", "trainer", "streams", "serving")}) == 4
    assert TeacherSettings(state_dir=tmp_path).chdb_dsn() == f"chdb://{paths['teacher']}"
    # a configured URL is used by every role as it is
    url = "http://u:p@ch.example:8123/db"
    assert TeacherSettings(state_dir=tmp_path, clickhouse_url=url).chdb_dsn() == url


def _start(role: str, tmp_path: Path, state: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELSTREAM_")}
    env.update(RELSTREAM_STATE_DIR=str(state), RELSTREAM_CLICKHOUSE_URL="")
    return subprocess.Popen([sys.executable, "-c", _CHILD, ROLES[role.split("#")[0]],
                             role.replace("#", "-"), str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_open(tmp_path: Path, names: list[str], procs: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all((tmp_path / f"{n}.open").exists() for n in names):
            return
        if any(p.poll() is not None for p in procs):
            return
        time.sleep(0.1)


def test_the_four_services_open_their_default_clickhouse_at_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    names = list(ROLES)
    procs = [_start(role, tmp_path, state) for role in names]
    try:
        _wait_open(tmp_path, names, procs)
        opened = {n: (tmp_path / f"{n}.open").exists() for n in names}
        (tmp_path / "go").write_text("")
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for name, proc, (out, err) in zip(names, procs, results, strict=True):
        assert proc.returncode == 0 and opened[name], f"{name}: {err[-2000:]}"
        assert "Cannot lock" not in err
        assert out.strip() == f"[('{name}', 1)]"
    assert {(tmp_path / f"{n}.open").read_text() for n in names} == {
        str(state / "teacher" / "clickhouse"), str(state / "trainer" / "clickhouse"),
        str(state / "streams" / "clickhouse"), str(state / "clickhouse")}


def test_two_processes_of_one_role_are_told_what_to_do(tmp_path: Path) -> None:
    """The case roles do not cover (two teacher workers on one state dir) names the way out."""
    state = tmp_path / "state"
    first = _start("teacher", tmp_path, state)
    try:
        _wait_open(tmp_path, ["teacher"], [first])
        second = _start("teacher#2", tmp_path, state)
        _, err = second.communicate(timeout=120)
    finally:
        (tmp_path / "go").write_text("")
        first.communicate(timeout=120)
    assert second.returncode != 0 and first.returncode == 0
    assert "Cannot lock file" in err and "give this one its own RELSTREAM_STATE_DIR" in err
