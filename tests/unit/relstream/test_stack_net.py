"""`free_port` never hands out a port the caller has already picked but not yet bound."""

from __future__ import annotations

import socket

from relstream.stack.net import free_port


def test_free_port_avoids_ports_already_picked() -> None:
    picked = {free_port() for _ in range(20)}
    port = free_port(avoid=picked)
    assert port not in picked
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
