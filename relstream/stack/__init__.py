"""The local stack: a real Apache Kafka broker (KRaft, one node), the teacher's vLLM server
and, when asked, Redis, each started as its own process group and recorded in a pid file.

Kafka comes from Maven Central (`kafka_broker`); ClickHouse needs no process here: it is
embedded through clickhouse-connect's `chdb://` DSN. Every started process has a pid file
under `<state_dir>/pids` (`pid_files`), so `down` stops exactly what `up` started, even from
another shell. `LocalStack` (`local`) ties them together; `net` holds the port helpers.
"""

from relstream.core.errors import StackError
from relstream.stack.local import LocalStack, ServiceStatus
from relstream.stack.net import free_port, host_port, port_open

__all__ = ["LocalStack", "ServiceStatus", "StackError", "free_port", "host_port", "port_open"]
