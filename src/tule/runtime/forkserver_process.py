"""The fork-server process: it preloads the heavy libraries once, then forks a job per request.

The server starts it as `python -c <forkserver._ENTRY> <server pid> <control fd> <module>...`
and talks to it over the control socket (`forkserver_protocol`). It imports the modules it was
given, reports "ready", then loops: it forks a child per "start" request (the child becomes the
job, see `forkserver_child`), signals jobs' process groups on request and reports each job's
exit. It observes an exit without reaping first, so the group id stays valid while it kills
what the job left in its group, and it signals only children it has not reaped, so no group id
can be reused under the server. At the end of the control stream it kills its jobs and exits.

Fork safety, measured on this machine (Linux 6.18, 2 cores): the fork server never runs a Python
thread; it checks `threading.active_count() == 1` after preloading and refuses to serve
otherwise. Importing the preload list does start native threads: one OpenBLAS worker per extra
core for each of numpy's and scipy's OpenBLAS, and jemalloc's background thread (pyarrow, which
pandas and so scikit-learn import). Both libraries register `pthread_atfork` handlers: OpenBLAS
stops its pools before `fork` (the fork server went from 4 threads to 2 at its first fork; a
child starts with 1 and its first BLAS call starts a pool), jemalloc holds its locks across
`fork`; and the fork server itself never calls into them. Children forked from one that preloaded
all of it repeatedly did BLAS products and SVDs, CSV and Parquet I/O through Arrow's thread
pools, xgboost training with 2 OpenMP threads, a scikit-learn fit, a torch backward pass with 2
threads and faiss searches with 2 OpenMP threads, with no hang. Torch starts no thread at import
and is preloaded (it costs linear-learner 1.4 s); faiss is not: its import takes 0.17 s but
adds 270 MB of private mappings to every child, which `RLIMIT_DATA` counts.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import importlib
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from tule.runtime.forkserver import startup_variables
from tule.runtime.forkserver_child import die_with_parent, run_child
from tule.runtime.forkserver_protocol import Channel


def main() -> None:
    """The fork server: `python -c <forkserver._ENTRY> <parent pid> <control fd> <module>...`."""
    parent, control_fd, preload = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    die_with_parent(libc, parent)
    channel = Channel(socket.socket(fileno=control_fd))
    with contextlib.suppress(BrokenPipeError):  # the server went away
        Forker(channel, libc).serve(preload)


class Forker:
    """The fork server's loop: fork a job per start request, report each job's exit."""

    def __init__(self, channel: Channel, libc: ctypes.CDLL) -> None:
        self.channel = channel
        self.libc = libc
        self.children: set[int] = set()
        self.controller: Any = None
        self.wakeup = os.pipe()
        self.pid = os.getpid()

    def serve(self, preload: Sequence[str]) -> None:
        started = time.perf_counter()
        before = startup_variables(os.environ)
        failed = {}
        for name in preload:
            try:
                importlib.import_module(name)
            except Exception as error:
                # A missing library only costs its jobs the import time: they import it.
                failed[name] = f"{type(error).__name__}: {error}"
        with contextlib.suppress(Exception):  # without it, caps are only variables
            from threadpoolctl import ThreadpoolController

            self.controller = ThreadpoolController()
        # Children never collect what was preloaded: frozen objects are not scanned, so their
        # pages stay shared instead of being copied by the first collection in each child.
        gc.collect()
        gc.freeze()
        if threading.active_count() != 1:
            names = [t.name for t in threading.enumerate()]
            reason = f"Python threads {names} are running after preloading; fork copies them"
            self.channel.send({"op": "refused", "reason": reason})
            return
        wake_read, wake_write = self.wakeup
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        # SIGCHLD's handler does nothing: the byte it writes to the wakeup pipe wakes the loop.
        signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        self.channel.send(
            {
                "op": "ready",
                "pid": os.getpid(),
                "preloaded": [name for name in preload if name not in failed],
                "failed": failed,
                "seconds": time.perf_counter() - started,
                "native_threads": _native_threads(),
                "startup_set": {
                    name: value
                    for name, value in startup_variables(os.environ).items()
                    if before.get(name) != value
                },
            }
        )
        control = self.channel.sock.fileno()
        poller = select.poll()
        poller.register(control, select.POLLIN)
        poller.register(wake_read, select.POLLIN)
        try:
            while True:
                events = dict(poller.poll())
                if wake_read in events:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(wake_read, 512):
                            pass
                self._report_exits()
                if control in events:
                    if not self.channel.fill():
                        return
                    for message in self.channel.messages():
                        self._handle(message)
        finally:
            # The server is gone or closed us: take the jobs along, as a dying server would.
            for pid in self.children:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)

    def _handle(self, message: dict[str, Any]) -> None:
        if message["op"] == "signal":
            # Only an unreaped child's group id is surely still its group's.
            if message["pid"] in self.children:
                with contextlib.suppress(OSError):
                    os.killpg(message["pid"], message["signal"])
        elif message["op"] == "start":
            if not self.channel.fds:
                self._failed(message, OSError(errno.EBADF, "no output pipe came with the request"))
                return
            self._fork(message, self.channel.fds.popleft())

    def _fork(self, message: dict[str, Any], output_fd: int) -> None:
        # Anything still buffered would be written twice, once by each process.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        try:
            pid = os.fork()
        except OSError as error:
            os.close(output_fd)
            self._failed(message, error)
            return
        if pid == 0:
            run_child(message, output_fd, self)
        os.close(output_fd)
        self.children.add(pid)
        self.channel.send({"op": "started", "id": message["id"], "pid": pid})

    def _failed(self, message: dict[str, Any], error: OSError) -> None:
        reply = {"errno": error.errno, "error": error.strerror or str(error)}
        self.channel.send({"op": "failed", "id": message["id"], **reply})

    def _report_exits(self) -> None:
        while True:
            try:
                # WNOWAIT: the exited leader stays a zombie, so its group id stays its group's
                # while the rest of the group is killed (the job ends with its main process).
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            pid = info.si_pid
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            self.children.discard(pid)
            returncode = os.waitstatus_to_exitcode(status)
            self.channel.send({"op": "exited", "pid": pid, "returncode": returncode})


def _native_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return -1
