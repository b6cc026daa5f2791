"""Addresses the local stack needs: parse host:port, is a port open, a free port. (Whether
a Kafka broker answers is `relstream.core.broker_wait.broker_problem`.)"""

from __future__ import annotations

import socket
from collections.abc import Collection

from relstream.core.errors import StackError


def host_port(bootstrap: str) -> tuple[str, int]:
    """The first `host:port` of a bootstrap list."""
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise StackError(f"bootstrap servers {bootstrap!r} are not host:port")
    return host, int(port)


def redis_host_port(url: str) -> tuple[str, int]:
    from urllib.parse import urlparse

    parsed = urlparse(url if "://" in url else f"redis://{url}")
    return parsed.hostname or "127.0.0.1", parsed.port or 6379


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(avoid: Collection[int] = ()) -> int:
    """A loopback port nobody listens on now and not in `avoid`.

    The port is free only until someone binds it: a caller that has picked a port but not
    bound it yet (the broker's own port, say) passes it in `avoid`, or the kernel may hand
    the same number out twice (CI once got the broker and controller on one port).
    """
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port
