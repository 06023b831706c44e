"""The fork server's control socket: how the server and its fork server talk.

The server (`forkserver`) and the fork-server process (`forkserver_process`) share one Unix
stream socket. Each message is a 4-byte big-endian length, then that many bytes of JSON: an
object whose "op" names it.

- Server to fork server: "start" (id, module, args, env, cwd, memory_limit), with the write end
  of the job's output pipe passed alongside (SCM_RIGHTS); "signal" (pid, signal) for a job's
  process group.
- Fork server to server: "ready" (pid, preloaded, failed, seconds, native_threads,
  startup_set) once it has preloaded, or "refused" (reason) instead; "started" (id, pid) or
  "failed" (id, errno, error) in answer to each "start"; "exited" (pid, returncode) when a job
  has ended.

The end of the stream means the other side is gone or done: the fork server then kills its jobs
and exits, and the server treats it as gone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# A message's length, before its JSON body.
_HEADER = struct.Struct("!I")
# Bytes and descriptors taken from the socket per read.
_RECEIVE_BYTES = 1 << 16
_MAX_FDS = 16

log = logging.getLogger(__name__)


class Channel:
    """One end of the control socket: length-prefixed JSON messages, with file descriptors
    passed alongside. A descriptor arrives no later than the first byte of the message it was
    sent with, so descriptors queue up in order and each message that carries one takes the
    oldest."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fds: deque[int] = deque()
        self._buffer = bytearray()
        self._send_lock = threading.Lock()

    def send(self, message: Mapping[str, Any], fds: Sequence[int] = ()) -> None:
        body = json.dumps(message).encode()
        data = _HEADER.pack(len(body)) + body
        # One lock, so concurrent senders never interleave their frames.
        with self._send_lock:
            sent = socket.send_fds(self.sock, [data], list(fds)) if fds else 0
            if sent < len(data):
                self.sock.sendall(memoryview(data)[sent:])

    def fill(self) -> bool:
        """Read what has arrived, blocking until something has; False at end of stream."""
        data, fds, flags, _ = socket.recv_fds(
            self.sock, _RECEIVE_BYTES, _MAX_FDS, socket.MSG_CMSG_CLOEXEC
        )
        self.fds.extend(fds)
        if flags & socket.MSG_CTRUNC:
            # Cannot happen with one descriptor per message; a request without it then fails.
            log.error("file descriptors dropped on the fork server's control socket")
        if not data:
            return False
        self._buffer += data
        return True

    def messages(self) -> Iterator[dict[str, Any]]:
        """The complete messages received so far."""
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + size
            if len(self._buffer) < end:
                return
            body = bytes(self._buffer[_HEADER.size : end])
            del self._buffer[:end]
            yield json.loads(body)

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.popleft())
        self.sock.close()
