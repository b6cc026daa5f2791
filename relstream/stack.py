"""The local stack: a real Apache Kafka broker (KRaft, one node), the teacher's vLLM server
and, when asked, Redis.

Kafka comes from Maven Central: `mvn dependency:copy-dependencies` resolves
`org.apache.kafka:kafka_2.13` into the download cache once, then `kafka.Kafka` runs on
the machine's JDK with a generated `server.properties`, loopback only. ClickHouse needs
no process here: it is embedded through clickhouse-connect's `chdb://` DSN.
Every started process has a pid file under `<state_dir>/pids`, so `down` stops exactly
what `up` started, even from another shell.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from relstream.core.errors import StackError
from relstream.core.processes import group, is_alive, signal_group, wait_gone
from relstream.core.retry import Backoff, NotYet, retry
from relstream.core.settings import CommonSettings

if TYPE_CHECKING:
    from teacher_worker.settings import TeacherSettings

KAFKA_VERSION = "3.9.1"
"""3.9 keeps the older protocol versions that aiokafka (Faust) still sends."""
SLF4J_BINDING = ("org.slf4j", "slf4j-reload4j", "1.7.36")

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>relstream</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{version}</version></dependency>
    <dependency><groupId>{sg}</groupId><artifactId>{sa}</artifactId><version>{sv}</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J = """log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={log}
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
"""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    where: str
    pid: int | None = None
    detail: str = ""


def _host_port(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise StackError(f"bootstrap servers {bootstrap!r} are not host:port")
    return host, int(port)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])




def _identity(proc: psutil.Process) -> dict[str, object] | None:
    """What tells this process apart from a later one with the same pid: its start time,
    executable and command line (None if it is gone or not ours to inspect)."""
    try:
        with proc.oneshot():
            return {"pid": proc.pid, "create_time": proc.create_time(), "exe": proc.exe(),
                    "cmdline": proc.cmdline()}
    except (psutil.NoSuchProcess, psutil.AccessDenied):  # ZombieProcess is a NoSuchProcess
        return None


def _process_identity(pid: int) -> dict[str, object] | None:
    try:
        return _identity(psutil.Process(pid))
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _same_process(name: str, recorded: dict[str, object], proc: psutil.Process) -> bool:
    """Is `proc` still the process the pid file was written for?

    The start time must match (a reused pid has a later one) and so must the executable
    or the command line (a server may retitle itself, which rewrites its command line).
    Without a recorded identity (a pid file of an older relstream) the process must at
    least name the service (`kafka.Kafka`, `redis-server`, `vllm`) in its command line.
    """
    now = _identity(proc)
    if now is None:
        return False
    cmdline, started = now["cmdline"], now["create_time"]
    if "create_time" not in recorded:
        return isinstance(cmdline, list) and name.lower() in " ".join(cmdline).lower()
    then = recorded["create_time"]
    if not (isinstance(then, int | float) and isinstance(started, float)
            and abs(started - then) < 0.05):
        return False
    return now["exe"] == recorded.get("exe") or cmdline == recorded.get("cmdline")


class LocalStack:
    """Starts, stops and reports the local services described by `settings`."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.state = settings.state_dir
        self.pids = self.state / "pids"
        self.logs = self.state / "logs"
        self.kafka_libs = settings.cache_dir / "kafka" / KAFKA_VERSION / "libs"

    # --- Kafka -------------------------------------------------------------------------

    def install_kafka(self) -> Path:
        """Resolve the broker's jars from Maven Central into the cache (once)."""
        marker = self.kafka_libs / ".complete"
        if marker.exists():
            return self.kafka_libs
        if shutil.which("mvn") is None or shutil.which("java") is None:
            raise StackError("Kafka needs `java` (17+) and `mvn` on PATH to fetch the broker")
        work = self.kafka_libs.parent
        work.mkdir(parents=True, exist_ok=True)
        sg, sa, sv = SLF4J_BINDING
        (work / "pom.xml").write_text(_POM.format(version=KAFKA_VERSION, sg=sg, sa=sa, sv=sv))
        cmd = [
            "mvn", "-q", "-B", "-f", str(work / "pom.xml"), "dependency:copy-dependencies",
            f"-DoutputDirectory={self.kafka_libs}",
            f"-Dmaven.repo.local={self.settings.cache_dir / 'm2'}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise StackError(
                f"resolving kafka_2.13:{KAFKA_VERSION} from Maven failed:\n{proc.stdout[-2000:]}"
            )
        marker.touch()
        return self.kafka_libs

    def _kafka_dir(self) -> Path:
        return self.state / "kafka"

    def _write_kafka_config(self, host: str, port: int) -> Path:
        kdir = self._kafka_dir()
        kdir.mkdir(parents=True, exist_ok=True)
        controller = free_port()
        proto = self._local_protocol()
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{host}:{controller}",
            "listeners": f"{proto}://{host}:{port},CONTROLLER://{host}:{controller}",
            "advertised.listeners": f"{proto}://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": f"{proto}:{proto},CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": proto,
            "log.dirs": str(kdir / "data"),
            "num.partitions": "4",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Our topics are created explicitly with their configs (relstream.core.topics); auto
            # creation stays on for ad-hoc topics of tools and tests.
            "auto.create.topics.enable": "true",
            "message.max.bytes": "2097152",
            "log.segment.bytes": str(64 * 1024 * 1024),
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        }
        if proto == "SASL_PLAINTEXT":
            # One PLAIN user, the one the settings name; the broker talks to itself as it.
            user = self.settings.kafka_sasl_username
            password = self.settings.kafka_sasl_password.get_secret_value()
            props.update({
                "sasl.enabled.mechanisms": "PLAIN",
                "sasl.mechanism.inter.broker.protocol": "PLAIN",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config":
                    "org.apache.kafka.common.security.plain.PlainLoginModule required "
                    f'username="{user}" password="{password}" user_{user}="{password}";',
            })
        path = kdir / "server.properties"
        path.touch(mode=0o600)  # it may hold the SASL password
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (kdir / "log4j.properties").write_text(_LOG4J.format(log=self.logs / "kafka.log"))
        return path

    def _local_protocol(self) -> str:
        """The local broker speaks PLAINTEXT, or SASL_PLAINTEXT with one PLAIN user; TLS
        needs certificates, which belong to a real deployment, not this stack."""
        s = self.settings
        if s.kafka_security_protocol == "PLAINTEXT":
            return "PLAINTEXT"
        if s.kafka_security_protocol == "SASL_PLAINTEXT" and s.kafka_sasl_mechanism == "PLAIN":
            name = s.kafka_sasl_username
            if not name or not name.replace("-", "").replace("_", "").isalnum():
                raise StackError("a SASL broker needs RELSTREAM_KAFKA_SASL_USERNAME "
                                 "(letters, digits, - and _)")
            password = s.kafka_sasl_password.get_secret_value()
            if not password or '"' in password:
                raise StackError("a SASL broker needs RELSTREAM_KAFKA_SASL_PASSWORD "
                                 "(without double quotes)")
            return "SASL_PLAINTEXT"
        raise StackError(
            f"the local broker speaks PLAINTEXT or SASL_PLAINTEXT with PLAIN, not "
            f"{s.kafka_security_protocol}/{s.kafka_sasl_mechanism}; for TLS or SCRAM point "
            "RELSTREAM_KAFKA_BOOTSTRAP at a broker configured for it")

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java", "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self._kafka_dir() / 'log4j.properties'}",
            "-cp", f"{self.kafka_libs}/*", main, *args,
        ]

    def start_kafka(self, timeout_s: float = 60.0) -> ServiceStatus:
        host, port = _host_port(self.settings.kafka_bootstrap)
        if host not in ("127.0.0.1", "localhost"):
            return self.kafka_status()  # an external broker: nothing to start
        running = self._running_pid("kafka")
        if running:
            return self.kafka_status()
        if port_open(host, port):
            raise StackError(f"port {port} is taken by a process this stack did not start")
        self.install_kafka()
        self.logs.mkdir(parents=True, exist_ok=True)
        config = self._kafka_dir() / "server.properties"
        data = self._kafka_dir() / "data"
        if not (data / "meta.properties").exists():
            config = self._write_kafka_config(host, port)
            cluster_id = str(uuid.uuid4())
            fmt = subprocess.run(
                # `--cluster-id=` keeps an id that starts with "-" from reading as a flag.
                self._java("kafka.tools.StorageTool", "format",
                           f"--cluster-id={_kafka_cluster_id(cluster_id)}", "-c", str(config)),
                capture_output=True, text=True,
            )
            if fmt.returncode != 0:
                raise StackError(f"formatting Kafka storage failed: {fmt.stdout}{fmt.stderr}")
        out = open(self.logs / "kafka.out", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            self._java("kafka.Kafka", str(config)),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the shell that ran `stack up`
        )
        self._write_pid("kafka", proc.pid)

        def answers() -> None:
            if proc.poll() is not None:
                self._clear_pid("kafka")
                raise StackError(
                    f"Kafka exited with {proc.returncode}; see {self.logs / 'kafka.out'}"
                )
            if not (port_open(host, port)
                    and _broker_answers(self.settings.kafka_client_config())):
                raise NotYet(f"no answer on {host}:{port} yet")

        try:
            retry(answers, retry_on=NotYet, backoff=Backoff(0.3, 1.0, 0.3),
                  deadline_s=timeout_s, what="starting Kafka", log_level=logging.DEBUG)
        except NotYet:
            self.stop("kafka")
            raise StackError(
                f"Kafka did not answer on {host}:{port} within {timeout_s:.0f} s") from None
        return self.kafka_status()

    def kafka_status(self) -> ServiceStatus:
        host, port = _host_port(self.settings.kafka_bootstrap)
        pid = self._running_pid("kafka")
        if pid is None and host not in ("127.0.0.1", "localhost"):
            up = port_open(host, port, timeout=2)
            return ServiceStatus("kafka", up, self.settings.kafka_bootstrap, None, "external")
        return ServiceStatus(
            "kafka", pid is not None and port_open(host, port), self.settings.kafka_bootstrap,
            pid, f"Apache Kafka {KAFKA_VERSION} (KRaft), data in {self._kafka_dir() / 'data'}",
        )

    # --- Redis (only when configured) -----------------------------------------------------

    def start_redis(self, timeout_s: float = 20.0) -> ServiceStatus | None:
        url = self.settings.redis_url
        if not url:
            return None
        host, port = _redis_host_port(url)
        if host not in ("127.0.0.1", "localhost") or self._running_pid("redis"):
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
        self._write_pid("redis", proc.pid)

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
        host, port = _redis_host_port(self.settings.redis_url)
        pid = self._running_pid("redis")
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
        if self._running_pid("vllm"):
            return self.vllm_status()
        if port_open(teacher.vllm_host, teacher.vllm_port):
            raise StackError(f"port {teacher.vllm_port} is taken by a process this stack did "
                             "not start (RELSTREAM_VLLM_PORT picks another)")
        log = self.logs / "vllm.log"
        try:
            proc = start_server(teacher, log)
        except TeacherWorkerError as exc:
            raise StackError(f"cannot start the teacher's vLLM server: {exc}") from exc
        self._write_pid("vllm", proc.pid)
        try:
            wait_ready(base_url(teacher), proc, teacher.vllm_ready_timeout_s, log)
        except TeacherWorkerError as exc:
            stop_group(proc)
            self._clear_pid("vllm")
            raise StackError(str(exc)) from exc
        return self.vllm_status()

    def vllm_status(self) -> ServiceStatus:
        from teacher_worker.vllm_server import base_url, server_ready

        teacher = self._teacher_settings()
        url = base_url(teacher)
        pid = self._running_pid("vllm")
        return ServiceStatus("vllm", pid is not None and server_ready(url), url, pid,
                             f"teacher {teacher.model_dir().name} ({teacher.vllm_dtype})")

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
        if self._running_pid("vllm"):
            statuses.append(self.vllm_status())
        return statuses

    def clickhouse_status(self) -> ServiceStatus:
        dsn = self.settings.chdb_dsn()
        if dsn.startswith("chdb://"):
            return ServiceStatus("clickhouse", True, dsn, None, "embedded chdb, in each process")
        return ServiceStatus("clickhouse", True, dsn, None, "external server (not probed)")

    # --- pid files ------------------------------------------------------------------------------

    def _write_pid(self, name: str, pid: int) -> None:
        """Record the pid, and beside it the process's identity (`<name>.identity.json`:
        create_time, exe, cmdline), so `down` never signals a stranger that got the pid
        after ours died."""
        import json

        self.pids.mkdir(parents=True, exist_ok=True)
        identity = _process_identity(pid) or {"pid": pid}
        (self.pids / f"{name}.identity.json").write_text(json.dumps(identity))
        (self.pids / f"{name}.pid").write_text(str(pid))

    def _clear_pid(self, name: str) -> None:
        (self.pids / f"{name}.pid").unlink(missing_ok=True)
        (self.pids / f"{name}.identity.json").unlink(missing_ok=True)

    def _running_pid(self, name: str) -> int | None:
        proc = self._running_process(name)
        return None if proc is None else int(proc.pid)

    def _running_process(self, name: str) -> psutil.Process | None:
        """The `name` process this stack started, if that very process is alive; a stale
        pid file (dead, or the pid now belongs to another process) is removed."""
        import json

        path = self.pids / f"{name}.pid"
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            recorded = json.loads((self.pids / f"{name}.identity.json").read_text())
        except (OSError, ValueError):
            recorded = {}  # written by an older relstream: the pid alone
        if not isinstance(recorded, dict) or recorded.get("pid", pid) != pid:
            recorded = {}
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            proc = None
        except psutil.AccessDenied:
            proc = None  # not ours to inspect, so not ours to signal
        if proc is not None and is_alive(proc) and _same_process(name, recorded, proc):
            return proc
        self._clear_pid(name)
        return None

    def stop(self, name: str, timeout_s: float = 30.0) -> bool:
        """SIGTERM the process group, wait for all of it, then SIGKILL what is left. True if
        something was stopped.

        Only a process whose identity matches its pid file is signalled
        (`_running_process`); our own child is reaped by the wait (tests).
        """
        proc = self._running_process(name)
        if proc is None:
            return False
        members = group(proc.pid) or [proc]
        for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
            if not signal_group(proc.pid, sig):
                break
            members = wait_gone(members, wait_s)
            if not members:
                break
        self._clear_pid(name)
        return True


def _redis_host_port(url: str) -> tuple[str, int]:
    from urllib.parse import urlparse

    parsed = urlparse(url if "://" in url else f"redis://{url}")
    return parsed.hostname or "127.0.0.1", parsed.port or 6379


def _kafka_cluster_id(seed: str) -> str:
    """Kafka wants a base64url-encoded 16-byte UUID without padding."""
    import base64

    return base64.urlsafe_b64encode(uuid.UUID(seed).bytes).decode().rstrip("=")


def _broker_answers(kafka: Mapping[str, Any]) -> bool:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(**kafka, request_timeout_ms=3000)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()
