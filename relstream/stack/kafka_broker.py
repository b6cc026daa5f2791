"""The local Kafka broker's files: its jars from Maven Central, its KRaft config, the
command that runs it.

`mvn dependency:copy-dependencies` resolves `org.apache.kafka:kafka_2.13` into the download
cache once, then `kafka.Kafka` runs on the machine's JDK with a generated
`server.properties`, loopback only, PLAINTEXT or SASL_PLAINTEXT with one PLAIN user.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

from relstream.core.errors import StackError
from relstream.core.settings import CommonSettings
from relstream.stack.net import free_port

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


def install(libs: Path, m2: Path) -> Path:
    """Resolve the broker's jars from Maven Central into `libs` (once), with `m2` as the
    local Maven repository."""
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise StackError("Kafka needs `java` (17+) and `mvn` on PATH to fetch the broker")
    work = libs.parent
    work.mkdir(parents=True, exist_ok=True)
    sg, sa, sv = SLF4J_BINDING
    (work / "pom.xml").write_text(_POM.format(version=KAFKA_VERSION, sg=sg, sa=sa, sv=sv))
    cmd = [
        "mvn", "-q", "-B", "-f", str(work / "pom.xml"), "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
        f"-Dmaven.repo.local={m2}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StackError(
            f"resolving kafka_2.13:{KAFKA_VERSION} from Maven failed:\n{proc.stdout[-2000:]}"
        )
    marker.touch()
    return libs


def write_config(settings: CommonSettings, kdir: Path, logs: Path, host: str,
                 port: int) -> Path:
    """`server.properties` (one KRaft node, loopback) and `log4j.properties` in `kdir`."""
    kdir.mkdir(parents=True, exist_ok=True)
    controller = free_port(avoid={port})
    proto = local_protocol(settings)
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
        user = settings.kafka_sasl_username
        password = settings.kafka_sasl_password.get_secret_value()
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
    (kdir / "log4j.properties").write_text(_LOG4J.format(log=logs / "kafka.log"))
    return path


def local_protocol(settings: CommonSettings) -> str:
    """The local broker speaks PLAINTEXT, or SASL_PLAINTEXT with one PLAIN user; TLS
    needs certificates, which belong to a real deployment, not this stack."""
    s = settings
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


def java(libs: Path, kdir: Path, main: str, *args: str) -> list[str]:
    """The command line running `main` on the broker's jars with its log4j config."""
    return [
        "java", "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{kdir / 'log4j.properties'}",
        "-cp", f"{libs}/*", main, *args,
    ]


def cluster_id(seed: str) -> str:
    """Kafka wants a base64url-encoded 16-byte UUID without padding."""
    import base64

    return base64.urlsafe_b64encode(uuid.UUID(seed).bytes).decode().rstrip("=")
