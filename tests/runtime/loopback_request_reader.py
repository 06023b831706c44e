"""For the loopback HTTP tests' fake servers: read one whole request off a connection."""

from __future__ import annotations

import socket


def read_request(conn: socket.socket) -> None:
    """Consume one request: its head, then as many body bytes as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = [
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    ]
    while length and len(rest) < length[0]:
        rest += conn.recv(65536)
