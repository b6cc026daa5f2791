"""`LocalStack`: starts, stops and reports the local services (Kafka, Redis, the teacher's
vLLM server) that `settings` describe; ClickHouse needs no process (embedded chdb)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import relstream.stack.kafka_broker as kafka_broker
from relstream.core.broker_wait import broker_problem
from relstream.core.errors import StackError
from relstream.core.retry import Backoff, NotYet, retry
from relstream.core.settings import CommonSettings
from relstream.stack.net import host_port, port_open, redis_host_port
from relstream.stack.pid_files import PidFiles

if TYPE_CHECKING:
    from teacher_worker.settings import TeacherSettings


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    where: str
    pid: int | None = None
    detail: str = ""


class LocalStack:
    """Starts, stops and reports the local services described by `settings`."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.state = settings.state_dir
        self.pids = self.state / "pids"
        self.pid_files = PidFiles(self.pids)
        self.logs = self.state / "logs"
        self.kafka_libs = settings.cache_dir / "kafka" / kafka_broker.KAFKA_VERSION / "libs"

    def _kafka_dir(self) -> Path:
        return self.state / "kafka"

    def install_kafka(self) -> Path:
        """The broker's jars, resolved from Maven Central into the cache once."""
        return kafka_broker.install(self.kafka_libs, self.settings.cache_dir / "m2")

    # --- Kafka ---------------------------------------------------------------------------

    def start_kafka(self, timeout_s: float = 60.0) -> ServiceStatus:
        host, port = host_port(self.settings.kafka_bootstrap)
        if host not in ("127.0.0.1", "localhost"):
            return self.kafka_status()  # an external broker: nothing to start
        running = self.pid_files.running_pid("kafka")
        if running:
            return self.kafka_status()
        if port_open(host, port):
            raise StackError(f"port {port} is taken by a process this stack did not start")
        self.install_kafka()
        self.logs.mkdir(parents=True, exist_ok=True)
        config = self._kafka_dir() / "server.properties"
        data = self._kafka_dir() / "data"
        if not (data / "meta.properties").exists():
            config = kafka_broker.write_config(self.settings, self._kafka_dir(), self.logs, host,
                                               port)
            cluster_id = str(uuid.uuid4())
            fmt = subprocess.run(
                # `--cluster-id=` keeps an id that starts with "-" from reading as a flag.
                kafka_broker.java(self.kafka_libs, self._kafka_dir(), "kafka.tools.StorageTool",
                                  "format", f"--cluster-id={kafka_broker.cluster_id(cluster_id)}",
                                  "-c", str(config)),
                capture_output=True, text=True,
            )
            if fmt.returncode != 0:
                raise StackError(f"formatting Kafka storage failed: {fmt.stdout}{fmt.stderr}")
        out = open(self.logs / "kafka.out", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            kafka_broker.java(self.kafka_libs, self._kafka_dir(), "kafka.Kafka", str(config)),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the shell that ran `stack up`
        )
        self.pid_files.write("kafka", proc.pid)

        def answers() -> None:
            if proc.poll() is not None:
                self.pid_files.clear("kafka")
                raise StackError(
                    f"Kafka exited with {proc.returncode}; see {self.logs / 'kafka.out'}"
                )
            problem = broker_problem(self.settings.kafka_client_config(), timeout_s=3.0)
            if problem is not None:
                raise NotYet(problem)

        try:
            retry(answers, retry_on=NotYet, backoff=Backoff(0.3, 1.0, 0.3),
                  deadline_s=timeout_s, what="starting Kafka", log_level=logging.DEBUG)
        except NotYet as last:
            self.stop("kafka")
            raise StackError(f"Kafka did not answer on {host}:{port} within {timeout_s:.0f} s "
                             f"({last})") from None
        return self.kafka_status()

    def kafka_status(self) -> ServiceStatus:
        host, port = host_port(self.settings.kafka_bootstrap)
        pid = self.pid_files.running_pid("kafka")
        if pid is None and host not in ("127.0.0.1", "localhost"):
            up = port_open(host, port, timeout=2)
            return ServiceStatus("kafka", up, self.settings.kafka_bootstrap, None, "external")
        return ServiceStatus(
            "kafka", pid is not None and port_open(host, port), self.settings.kafka_bootstrap,
            pid, f"Apache Kafka {kafka_broker.KAFKA_VERSION} (KRaft), "
            f"data in {self._kafka_dir() / 'data'}",
        )

    # --- Redis (only when configured) -----------------------------------------------------

    def start_redis(self, timeout_s: float = 20.0) -> ServiceStatus | None:
        url = self.settings.redis_url
        if not url:
            return None
        host, port = redis_host_port(url)
        if host not in ("127.0.0.1", "localhost") or self.pid_files.running_pid("redis"):
            return self.redis_status()
        server = shutil.which("redis-server")
        if server is None:
            raise StackError("redis-server is not installed (apt-get install redis-server)")
        rdir = self.state / "redis"
        rdir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            [server, "--port", str(port), "--bind", host, "--save", "", "--appendonly", "no",
             "--dir", str(rdir), "--logfile", str(self.logs / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid_files.write("redis", proc.pid)

        def listening() -> bool:
            if port_open(host, port):
                return True
            if proc.poll() is not None:
                return False  # it exited: no use waiting
            raise NotYet(f"nothing listens on {host}:{port} yet")

        try:
            if retry(listening, retry_on=NotYet, backoff=Backoff(0.1, 1.0, 0.1),
                     deadline_s=timeout_s, what="starting redis-server",
                     log_level=logging.DEBUG):
                return self.redis_status()
        except NotYet:
            pass
        self.stop("redis")
        raise StackError(f"redis-server did not start on {host}:{port}; see {self.logs}")

    def redis_status(self) -> ServiceStatus | None:
        if not self.settings.redis_url:
            return None
        host, port = redis_host_port(self.settings.redis_url)
        pid = self.pid_files.running_pid("redis")
        return ServiceStatus("redis", port_open(host, port), self.settings.redis_url, pid,
                             "local redis-server" if pid else "external")

    # --- the teacher's vLLM server ---------------------------------------------------------

    def _teacher_settings(self) -> TeacherSettings:
        from teacher_worker.settings import TeacherSettings

        # The RELSTREAM_VLLM_* and RELSTREAM_TEACHER_* variables fill the rest.
        return TeacherSettings(**self.settings.model_dump())

    def start_vllm(self) -> ServiceStatus:
        """The teacher's vLLM server (OpenAI API on 127.0.0.1), once it answers."""
        from teacher_worker.errors import TeacherWorkerError
        from teacher_worker.vllm_server import base_url, start_server, stop_group, wait_ready

        teacher = self._teacher_settings()
        if self.pid_files.running_pid("vllm"):
            return self.vllm_status()
        if port_open(teacher.vllm_host, teacher.vllm_port):
            raise StackError(f"port {teacher.vllm_port} is taken by a process this stack did "
                             "not start (RELSTREAM_VLLM_PORT picks another)")
        log = self.logs / "vllm.log"
        try:
            proc = start_server(teacher, log)
        except TeacherWorkerError as exc:
            raise StackError(f"cannot start the teacher's vLLM server: {exc}") from exc
        self.pid_files.write("vllm", proc.pid)
        try:
            wait_ready(base_url(teacher), proc, teacher.vllm_ready_timeout_s, log)
        except TeacherWorkerError as exc:
            stop_group(proc)
            self.pid_files.clear("vllm")
            raise StackError(str(exc)) from exc
        return self.vllm_status()

    def vllm_status(self) -> ServiceStatus:
        from teacher_worker.vllm_server import base_url, gpu_present, server_dtype, server_ready

        teacher = self._teacher_settings()
        url = base_url(teacher)
        pid = self.pid_files.running_pid("vllm")
        return ServiceStatus("vllm", pid is not None and server_ready(url), url, pid,
                             f"teacher {teacher.model_dir().name} "
                             f"({server_dtype(teacher, on_gpu=gpu_present())})")

    # --- the whole stack ---------------------------------------------------------------------

    def up(self, *, teacher: bool = True) -> list[ServiceStatus]:
        from relstream.core.topics import ensure_topics

        statuses = [self.start_kafka()]
        ensure_topics(self.settings.kafka_client_config(), self.settings.topic_prefix)
        redis = self.start_redis()
        if redis:
            statuses.append(redis)
        statuses.append(self.clickhouse_status())
        if teacher:
            statuses.append(self.start_vllm())
        return statuses

    def down(self) -> list[str]:
        return [name for name in ("vllm", "redis", "kafka") if self.stop(name)]

    def status(self) -> list[ServiceStatus]:
        statuses = [self.kafka_status()]
        redis = self.redis_status()
        if redis:
            statuses.append(redis)
        statuses.append(self.clickhouse_status())
        if self.pid_files.running_pid("vllm"):
            statuses.append(self.vllm_status())
        return statuses

    def clickhouse_status(self) -> ServiceStatus:
        dsn = self.settings.chdb_dsn()
        if dsn.startswith("chdb://"):
            return ServiceStatus("clickhouse", True, dsn, None, "embedded chdb, in each process")
        return ServiceStatus("clickhouse", True, dsn, None, "external server (not probed)")

    def stop(self, name: str, timeout_s: float = 30.0) -> bool:
        """Stop the `name` process this stack started (its whole process group); True if
        something was stopped (`PidFiles.stop`)."""
        return self.pid_files.stop(name, timeout_s)
