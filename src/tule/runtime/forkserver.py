"""The fork-server executor: `python -m` workers forked from a process that has already
imported the heavy libraries, instead of a new interpreter per job.

Starting `python -m tule.algorithms.container train ...` costs about 1.8 s on a 2-core machine,
nearly all of it imports (xgboost pulls in scikit-learn, scipy and pandas; linear-learner pulls
in torch). `ForkServerExecutor` keeps one long-lived helper process, the fork server, which
imports `DEFAULT_PRELOAD` once; a job whose argv is `[<this python>, "-m", module, *args]` is
then a child forked from it that applies the job's environment, working directory and limits
and runs the module as `python -m` would. Everything else runs through the fallback executor (a
`LocalExecutor`): other argvs, jobs whose environment differs from the fork server's in a
variable read at start-up (`LD_PRELOAD`, `PYTHONPATH`, `LANG`... see `_read_at_startup`), and
every job while the fork server is warming up or gone. No job waits for the fork server.

For the caller a forked job behaves as a local one (both are `PipedExecution`s): it leads its
own session, so `stop` and `kill` reach its whole process group; stdout and stderr share one
pipe, whose write end travels to the fork server with the request (SCM_RIGHTS); `env` replaces
the environment; `memory_limit_bytes` is `RLIMIT_DATA`; when the main process exits, the rest of
its group is killed. The job is the fork server's child, not ours, so the fork server observes
its exit (without reaping first, so the group id stays valid while it kills the group), reaps
it and reports `(pid, returncode)` over the control socket, and it signals groups on our behalf
(only children it has not reaped: no group id can be reused under us).

Lifetimes: a dedicated thread here starts the fork server and stays until it is gone, because
`PR_SET_PDEATHSIG`, which the fork server sets, fires when the *thread* that started it ends.
Each job sets it too, toward the fork server. So a killed server takes its fork server and jobs
along, and a killed fork server takes its jobs along: the next `start` starts a new fork server
(its jobs run through the fallback until it is ready) and the lost jobs end as killed (-9).

Thread caps: BLAS and OpenMP libraries size their pools from `OMP_NUM_THREADS` and friends when
they load, which in a forked child was long ago, in the fork server (started without those
variables, so with the libraries' defaults). The child sets the variables as `LocalExecutor`
does and also applies them at run time through threadpoolctl. Limit: OpenMP's cap then holds in
the job's main thread and in threads it starts in OpenMP, but an OpenMP region entered from
another Python thread of the job starts from the default (the built-ins pass `nthread` and
friends explicitly, from `SM_NUM_CPUS`).

Fork safety, measured on this machine (Linux 6.18, 2 cores): the fork server never runs a Python
thread; it checks `threading.active_count() == 1` after preloading and refuses to serve
otherwise. Importing the preload list does start native threads: one OpenBLAS worker per extra
core for each of numpy's and scipy's OpenBLAS, and jemalloc's background thread (pyarrow, which
pandas and so scikit-learn import). Both libraries register `pthread_atfork` handlers (OpenBLAS
stops its pool, a child restarts it on first use; jemalloc holds its locks across `fork`), and
the fork server itself never calls into them. Children forked from a fork server that preloaded
all of it repeatedly did BLAS products and SVDs, CSV and Parquet I/O through Arrow's thread
pools, xgboost training with 2 OpenMP threads, a scikit-learn fit, a torch backward pass with 2
threads and faiss searches with 2 OpenMP threads, with no hang. Torch starts no thread at import
and is preloaded (it costs linear-learner 1.4 s); faiss is not: its import takes 0.17 s but
adds 270 MB of private mappings to every child, which `RLIMIT_DATA` counts.

What a forked child shares with its siblings and cannot redo: the hash seed (unless the
environment sets `PYTHONHASHSEED`, in which case the job falls back), `sys.flags`, and the
modules already imported (their import-time side effects happened once, in the fork server).
numpy's global random state is reseeded, as Python's `random` reseeds itself after `fork`.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import importlib
import io
import itertools
import json
import logging
import os
import resource
import runpy
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

from tule.clock import Clock, SystemClock
from tule.runtime.executor import (
    EXECUTORS,
    THREAD_VARIABLES,
    Execution,
    Executor,
    LocalExecutor,
    PipedExecution,
    ProcessSpec,
    child_environment,
    resolve_program,
)

# What the built-in algorithms import, in import order: starting their container costs ~50 ms
# after these instead of ~1.8 s. faiss (k-NN) is left out, see the module docstring.
DEFAULT_PRELOAD: tuple[str, ...] = (
    "numpy",
    "scipy.sparse",
    "scipy.linalg",
    "sklearn",
    "xgboost",
    "pyarrow",
    "pyarrow.csv",
    "pyarrow.parquet",
    "torch",
    "tule.algorithms.container",
    "tule.algorithms.container.train",
    "tule.algorithms.channels",
    "tule.algorithms.hyperparameters",
    "tule.algorithms.formats.csv",
    "tule.algorithms.formats.libsvm",
    "tule.algorithms.formats.parquet",
    "tule.algorithms.formats.recordio_protobuf",
    "tule.algorithms.xgboost",
    "tule.algorithms.linear_learner",
    "tule.algorithms.kmeans",
    "tule.algorithms.pca",
)

# Thread-count variables the child applies at run time (besides setting them).
_THREAD_COUNTS = frozenset({*THREAD_VARIABLES, "GOTO_NUM_THREADS", "BLIS_NUM_THREADS"})
# Read once when the interpreter or a library starts (so a forked child would silently ignore a
# different value), unless the child applies them itself (`_APPLIED_IN_CHILD`).
_STARTUP_PREFIXES = (
    "PYTHON",
    "LD_",
    "LC_",
    "MALLOC_",
    "OMP_",
    "GOMP_",
    "KMP_",
    "OPENBLAS_",
    "GOTO_",
    "MKL_",
    "BLIS_",
    "NUMEXPR_",
)
_STARTUP_NAMES = frozenset({"LANG", "LANGUAGE", "GLIBC_TUNABLES"})
_APPLIED_IN_CHILD = _THREAD_COUNTS | {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}

# How long `start` waits for the fork server's answer (it answers in milliseconds; silence means
# it is stuck, and it is replaced).
_REPLY_TIMEOUT_S = 10.0
# How long closing waits for the fork server to exit before killing it.
_CLOSE_TIMEOUT_S = 5.0
# Control messages: a 4-byte big-endian length, then JSON.
_HEADER = struct.Struct("!I")
_RECEIVE_BYTES = 1 << 16
_MAX_FDS = 16
_PR_SET_PDEATHSIG = 1
# Exit status of a child that could not set itself up (as the launcher's "cannot execute").
_SETUP_FAILED = 127
_PYTHON = os.path.abspath(sys.executable)
# The fork server's command: `-c`, so the module is not loaded a second time as `__main__`.
_ENTRY = "from tule.runtime.forkserver import main; main()"

log = logging.getLogger(__name__)


class _Channel:
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


# -- this side: the executor ----------------------------------------------------------------


class _Unavailable(Exception):
    """The fork server cannot take this job (gone or stuck); the fallback runs it."""


@dataclass
class _Exit:
    """Where the fork server's report of one job's exit lands."""

    event: threading.Event = field(default_factory=threading.Event)
    # Until reported: what happens to a job when its fork server dies (PR_SET_PDEATHSIG).
    returncode: int = -signal.SIGKILL


@dataclass
class _Reply:
    """Where the fork server's answer to one start request lands."""

    event: threading.Event = field(default_factory=threading.Event)
    pid: int | None = None
    exit: _Exit | None = None
    error: tuple[int, str] | None = None


class _ForkServer:
    """One fork-server process, and the thread that starts it, reads its messages and stays
    until it is gone (the fork server dies with that thread, see the module docstring)."""

    def __init__(self, preload: Sequence[str], environment: dict[str, str]) -> None:
        self.environment = environment
        self.ready = threading.Event()
        self.gone = threading.Event()
        self.pid: int | None = None
        self._preload = list(preload)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._replies: dict[int, _Reply] = {}
        self._exits: dict[int, _Exit] = {}
        self._channel: _Channel | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name="forkserver", daemon=True)
        self._thread.start()

    def start(self, request: dict[str, Any], output_fd: int) -> tuple[int, _Exit]:
        """Fork a job; raises `_Unavailable` if the fork server cannot, OSError if fork fails."""
        reply = _Reply()
        with self._lock:
            if self.gone.is_set() or self._channel is None:
                raise _Unavailable
            request_id = next(self._ids)
            self._replies[request_id] = reply
        try:
            self._channel.send({**request, "op": "start", "id": request_id}, [output_fd])
        except OSError:
            with self._lock:
                self._replies.pop(request_id, None)
            raise _Unavailable from None
        if not reply.event.wait(_REPLY_TIMEOUT_S):
            log.warning(
                "fork server %s did not answer in %.0f s; replacing it", self.pid, _REPLY_TIMEOUT_S
            )
            self.kill()
            raise _Unavailable
        if reply.error is not None:
            raise OSError(*reply.error)
        if reply.pid is None or reply.exit is None:
            raise _Unavailable  # it died before answering
        return reply.pid, reply.exit

    def signal(self, pid: int, signum: int) -> None:
        """Signal a job's process group, unless it has exited (then it is already over)."""
        if self._channel is not None:
            with contextlib.suppress(OSError):
                self._channel.send({"op": "signal", "pid": pid, "signal": int(signum)})

    def close(self) -> None:
        """Stop the fork server: at the end of its control stream it kills its jobs and exits."""
        channel = self._channel
        if channel is not None:
            with contextlib.suppress(OSError):
                channel.sock.shutdown(socket.SHUT_RDWR)
        self.gone.wait(_CLOSE_TIMEOUT_S + 1)

    def kill(self) -> None:
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._process.kill()

    def _run(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with theirs:
                # A session of its own: a Ctrl-C meant for the server must not kill the jobs.
                command = [_PYTHON, "-c", _ENTRY, str(os.getpid()), str(theirs.fileno())]
                self._process = subprocess.Popen(
                    [*command, *self._preload],
                    env=self.environment,
                    cwd="/",
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,
                )
        except OSError:
            log.exception("cannot start the fork server")
            ours.close()
            self._finish()
            return
        channel = _Channel(ours)
        with self._lock:
            self._channel = channel
        try:
            while channel.fill():
                for message in channel.messages():
                    self._dispatch(message)
        except OSError as error:
            log.warning("fork server %s: control socket failed: %s", self.pid, error)
        finally:
            self._finish()
            channel.close()
            try:
                self._process.wait(_CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def _dispatch(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "ready":
            self.pid = message["pid"]
            if message["failed"]:
                log.warning("fork server could not preload %s", message["failed"])
            log.info(
                "fork server %d ready: preloaded %d modules in %.2f s, %d native threads",
                self.pid,
                len(message["preloaded"]),
                message["seconds"],
                message["native_threads"],
            )
            self.ready.set()
        elif op == "refused":
            log.warning("fork server refuses to serve: %s", message["reason"])
        elif op in ("started", "failed"):
            with self._lock:
                reply = self._replies.pop(message["id"], None)
                if op == "started":
                    exit = self._exits[message["pid"]] = _Exit()
            if reply is None:
                return
            if op == "started":
                reply.pid, reply.exit = message["pid"], exit
            else:
                reply.error = (message["errno"], message["error"])
            reply.event.set()
        elif op == "exited":
            with self._lock:
                exit = self._exits.pop(message["pid"], None)
            if exit is not None:
                exit.returncode = message["returncode"]
                exit.event.set()

    def _finish(self) -> None:
        with self._lock:
            self.gone.set()
            replies = list(self._replies.values())
            exits = dict(self._exits)
            self._replies.clear()
            self._exits.clear()
        for reply in replies:
            reply.event.set()
        for pid, exit in exits.items():
            # Its jobs died with it (PR_SET_PDEATHSIG) unreported; end what they left in their
            # groups. The group id cannot have been reused while any member is alive.
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            exit.event.set()


class ForkedExecution(PipedExecution):
    """A job forked by the fork server: not our child, so the fork server observes its exit,
    kills what it left, reaps it, and signals its group for us."""

    def __init__(
        self,
        pid: int,
        output: IO[bytes],
        spec: ProcessSpec,
        clock: Clock,
        server: _ForkServer,
        exit: _Exit,
    ) -> None:
        self._server = server
        self._exit = exit
        super().__init__(pid, output, spec, clock)

    def _await_main_exit(self) -> None:
        self._exit.event.wait()

    def _reap(self) -> int:
        return self._exit.returncode

    def _signal_group(self, signum: int) -> None:
        self._server.signal(self.pid, signum)


class ForkServerExecutor(Executor):
    """Starts `python -m` jobs by forking them from a warm fork server; see the module
    docstring. The fork server starts on the first such job (which runs through `fallback`
    meanwhile) or on `warm_up()`."""

    name = "forkserver"

    def __init__(
        self,
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        clock: Clock | None = None,
        fallback: Executor | None = None,
    ) -> None:
        self._preload = tuple(preload)
        self._clock = clock or SystemClock()
        self._fallback = fallback or LocalExecutor(self._clock)
        self._lock = threading.Lock()
        self._server: _ForkServer | None = None
        self._closed = False
        # Set when a fork server dies before it is ready: a new one would too.
        self._broken = False

    @property
    def server_pid(self) -> int | None:
        """The fork server's pid once it is ready, else None."""
        server = self._server
        return server.pid if server is not None and server.ready.is_set() else None

    def warm_up(self) -> None:
        """Start the fork server now, in the background, if it is not running."""
        with self._lock:
            self._current_server()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start the fork server if needed and wait until it serves; False if it does not
        within `timeout` seconds (or cannot)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            server = self._current_server()
        while server is not None and not server.gone.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if server.ready.wait(0.05 if remaining is None else max(0.0, min(0.05, remaining))):
                return True
            if remaining is not None and remaining <= 0:
                return False
        return False

    def start(self, spec: ProcessSpec) -> Execution:
        env = child_environment(spec)
        module = self._module(spec, env)
        server = self._server_for(env) if module is not None else None
        if server is None:
            return self._fallback.start(spec)
        cwd = os.path.abspath(spec.cwd)
        _check_directory(cwd)
        request = {
            "module": module,
            "args": spec.argv[3:],
            "env": env,
            "cwd": cwd,
            "memory_limit": spec.memory_limit_bytes,
        }
        read_fd, write_fd = os.pipe()
        try:
            pid, exit = server.start(request, write_fd)
        except _Unavailable:
            os.close(read_fd)
            return self._fallback.start(spec)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            # The request carried its own reference; the job holds the only writers now.
            os.close(write_fd)
        output = os.fdopen(read_fd, "rb", buffering=0)
        return ForkedExecution(pid, output, spec, self._clock, server, exit)

    def close(self) -> None:
        """Stop the fork server, killing the jobs it still runs; later jobs use the fallback."""
        with self._lock:
            self._closed = True
            server, self._server = self._server, None
        if server is not None:
            server.close()

    def _module(self, spec: ProcessSpec, env: dict[str, str]) -> str | None:
        """The module of an argv `[<this python>, "-m", module, *args]`, else None."""
        argv = spec.argv
        if len(argv) < 3 or argv[1] != "-m" or not argv[2] or argv[2].startswith("-"):
            return None
        try:
            program = resolve_program(argv[0], env, Path(spec.cwd))
        except OSError:
            return None
        return argv[2] if program == _PYTHON else None

    def _server_for(self, env: dict[str, str]) -> _ForkServer | None:
        """The fork server if it is ready and its start-up environment is the job's."""
        with self._lock:
            server = self._current_server()
        if server is None or not server.ready.is_set() or server.gone.is_set():
            return None
        if startup_variables(env) != startup_variables(server.environment):
            return None
        return server

    def _current_server(self) -> _ForkServer | None:
        """The running (possibly still warming) fork server, started or restarted as needed.
        Callers hold the lock."""
        if self._closed or self._broken:
            return None
        server = self._server
        if server is not None and server.gone.is_set():
            if not server.ready.is_set():
                log.warning("the fork server died while preloading; jobs start without it")
                self._broken = True
                return None
            log.warning("fork server %s is gone; starting another", server.pid)
            server = None
        if server is None:
            server = self._server = _ForkServer(self._preload, _server_environment())
        return server


def _server_environment() -> dict[str, str]:
    # Without thread caps, so the libraries load with their default pools, as in a job without
    # them; jobs apply their own caps at run time.
    return {k: v for k, v in os.environ.items() if k not in _THREAD_COUNTS}


def _read_at_startup(name: str) -> bool:
    if name in _APPLIED_IN_CHILD:
        return False
    return name in _STARTUP_NAMES or name.startswith(_STARTUP_PREFIXES)


def startup_variables(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if _read_at_startup(k)}


def _check_directory(path: str) -> None:
    """Fail as `subprocess` would for a bad working directory, before anything is forked."""
    mode = os.stat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise NotADirectoryError(20, "Not a directory", path)
    if not os.access(path, os.X_OK):
        raise PermissionError(13, "Permission denied", path)


# -- the other side: the fork-server process ------------------------------------------------


def main() -> None:
    """The fork server: `python -c <_ENTRY> <parent pid> <control fd> <module>...`."""
    parent, control_fd, preload = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    _die_with_parent(libc, parent)
    channel = _Channel(socket.socket(fileno=control_fd))
    with contextlib.suppress(BrokenPipeError):  # the server went away
        _Forker(channel, libc).serve(preload)


def _die_with_parent(libc: ctypes.CDLL, parent: int) -> None:
    """SIGKILL this process when the thread that started it ends (Linux)."""
    if sys.platform.startswith("linux"):
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it ended before we asked
            os._exit(137)


class _Forker:
    """The fork server's loop: fork a job per start request, report each job's exit."""

    def __init__(self, channel: _Channel, libc: ctypes.CDLL) -> None:
        self.channel = channel
        self.libc = libc
        self.children: set[int] = set()
        self.controller: Any = None
        self.wakeup = os.pipe()
        self.pid = os.getpid()

    def serve(self, preload: Sequence[str]) -> None:
        started = time.perf_counter()
        failed = {}
        for name in preload:
            try:
                importlib.import_module(name)
            except Exception as error:
                # A missing library only costs its jobs the import time: they import it.
                failed[name] = f"{type(error).__name__}: {error}"
        with contextlib.suppress(ImportError):
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
                self._failed(message, OSError(9, "no output pipe came with the request"))
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
            _run_child(message, output_fd, self)
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


# -- the forked child -----------------------------------------------------------------------


def _run_child(message: dict[str, Any], output_fd: int, forker: _Forker) -> NoReturn:
    """Become the job: a new session tied to the fork server, the job's pipe, limits,
    directory and environment, then the module as `__main__`. Never returns."""
    try:
        os.setsid()
        _die_with_parent(forker.libc, forker.pid)
        signal.set_wakeup_fd(-1)
        # The fork server's descriptors, including other jobs' pipes not yet forked.
        forker.channel.close()
        for fd in forker.wakeup:
            os.close(fd)
        _restore_signals()
        _redirect_output(output_fd)
        _limit_memory(message["memory_limit"])
        os.chdir(message["cwd"])
        os.environ.clear()
        os.environ.update(message["env"])
        _reopen_stdio()
        _cap_threads(forker.controller)
        _refresh_process_state()
        module = message["module"]
        sys.argv = ["-m", *message["args"]]
    except BaseException:
        with contextlib.suppress(BaseException):
            os.write(2, traceback.format_exc().encode(errors="replace"))
        os._exit(_SETUP_FAILED)
    os._exit(_run_as_main(module))


def _restore_signals() -> None:
    """The handlers a new interpreter starts with, in place of any the fork server set."""
    fresh = {
        signal.SIGINT: signal.default_int_handler,
        signal.SIGPIPE: signal.SIG_IGN,
        signal.SIGXFSZ: signal.SIG_IGN,
    }
    for signum in signal.valid_signals():
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        wanted = fresh.get(signum, signal.SIG_DFL)
        try:
            # None: set by C code, which a job importing the same library would have too.
            current = signal.getsignal(signum)
            if current is not None and current != wanted:
                signal.signal(signum, wanted)
        except (OSError, ValueError):
            continue


def _redirect_output(output_fd: int) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)


def _limit_memory(limit: int | None) -> None:
    if limit is None:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _reopen_stdio() -> None:
    """New sys.stdin/stdout/stderr on fds 0-2, buffered as a new interpreter would buffer them
    for a pipe under the job's `PYTHONUNBUFFERED`. Encoding and errors are the fork server's:
    the variables that decide them (`LANG`, `LC_*`, `PYTHONIOENCODING`...) are the job's."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    template = sys.__stdout__ or sys.stdout
    encoding = getattr(template, "encoding", None) or "utf-8"
    errors = getattr(template, "errors", None) or "strict"

    def stream(fd: int, name: str, mode: str, errors: str) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        raw.name = name  # type: ignore[misc]
        buffer: Any
        if mode == "r":
            buffer = io.BufferedReader(raw)
        else:
            buffer = raw if unbuffered else io.BufferedWriter(raw)
        text = io.TextIOWrapper(
            buffer,
            encoding=encoding,
            errors=errors,
            newline="\n",
            # Python 3.9+ line-buffers stderr even when it is not a terminal.
            line_buffering=fd == 2 and not unbuffered,
            write_through=unbuffered,
        )
        text.mode = mode  # type: ignore[misc]
        return text

    sys.stdin = sys.__stdin__ = stream(0, "<stdin>", "r", errors)
    sys.stdout = sys.__stdout__ = stream(1, "<stdout>", "w", errors)
    sys.stderr = sys.__stderr__ = stream(2, "<stderr>", "w", "backslashreplace")


def _thread_count(env: Mapping[str, str], *names: str) -> int | None:
    """The first positive count among `names` (for OMP_NUM_THREADS, its first level)."""
    for name in names:
        value = env.get(name, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def _thread_limits(env: Mapping[str, str]) -> dict[str, int]:
    """Per threadpoolctl API, the cap each library would have read from `env` when it loaded
    (OpenBLAS falls back to GOTO_ then OMP_NUM_THREADS, MKL and BLIS to OMP_NUM_THREADS)."""
    limits = {
        "openmp": _thread_count(env, "OMP_NUM_THREADS"),
        "openblas": _thread_count(
            env, "OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"
        ),
        "mkl": _thread_count(env, "MKL_NUM_THREADS", "OMP_NUM_THREADS"),
        "blis": _thread_count(env, "BLIS_NUM_THREADS", "OMP_NUM_THREADS"),
    }
    return {api: count for api, count in limits.items() if count is not None}


def _cap_threads(controller: Any) -> None:
    limits = _thread_limits(os.environ)
    if limits and controller is not None:
        controller.limit(limits=limits)
    numexpr = sys.modules.get("numexpr")
    count = _thread_count(os.environ, "NUMEXPR_NUM_THREADS", "OMP_NUM_THREADS")
    if numexpr is not None and count is not None:
        numexpr.set_num_threads(count)


def _refresh_process_state() -> None:
    """What a new interpreter would derive from the job's directory and environment."""
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    time.tzset()
    # `python -m` puts the working directory first on the path (the fork server's `-c` put "").
    sys.path[:] = [os.getcwd(), *(entry for entry in sys.path if entry != "")]
    importlib.invalidate_caches()
    # Each new process would draw its own seed; forked ones share the fork server's state.
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


def _run_as_main(module: str) -> int:
    """Run `module` as `python -m` does and return the process's exit status."""
    # A fresh interpreter has not imported the module it runs; running it twice would warn.
    sys.modules.pop(module, None)
    interrupted = False
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit:
        code = _exit_status(exit.code)
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        # Without this function's own frame, as in a `python -m` traceback.
        tb = error.__traceback__.tb_next if error.__traceback__ else None
        sys.excepthook(type(error), error, tb)
        code = 1
    code = _finalize(code)
    if interrupted:
        # Python 3.8+ ends on an uncaught KeyboardInterrupt by dying of SIGINT.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        print(code, file=sys.stderr)
    return 1


def _finalize(code: int) -> int:
    """The interpreter's shutdown: join non-daemon threads, run atexit, flush stdio."""
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        try:
            shutdown()
        except BaseException:
            traceback.print_exc()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            if code == 0:
                code = 120  # as Python exits when it cannot flush stdout
    return code


EXECUTORS["forkserver"] = ForkServerExecutor
