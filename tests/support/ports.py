"""Free TCP ports for servers the tests start (S3, private RabbitMQ nodes)."""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (the OS picks them; bound together, so all distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
