"""The loopback HTTP tests' fake server: one connection, canned answers, one per request."""

from __future__ import annotations

import socket
import threading


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


def serve(answers: list[list[bytes]], pause: float = 0.0) -> tuple[int, threading.Thread]:
    """A one-connection server: per request, reads it whole, then writes the answer's pieces
    one write each, `pause` seconds apart (so a client can see them arrive separately), then
    closes. Returns its port and thread."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def run() -> None:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            for pieces in answers:
                read_request(conn)
                for piece in pieces:
                    conn.sendall(piece)
                    if pause:
                        threading.Event().wait(pause)
        listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread
