"""The fork-server executor: `python -m` workers forked from a process that has already
imported the heavy libraries, instead of a new interpreter per job.

Starting a built-in algorithm's container (`python -m <its module> train ...`) costs about 1.8 s
on a 2-core machine, nearly all of it imports (xgboost pulls in scikit-learn, scipy and pandas;
linear-learner pulls in torch). `ForkServerExecutor` keeps one long-lived helper process, the
fork server (`forkserver_process`), which imports its preload list once (`DEFAULT_PRELOAD` plus
the modules the caller adds); a job whose argv is `[<this python>, "-m", module, *args]` is
then a child forked from it that applies the job's environment, working directory and limits
and runs the module as `python -m` would (`forkserver_child`). Everything else runs through the
fallback executor (a `LocalExecutor`): other argvs, jobs whose environment differs from the one
the preloaded libraries loaded under in a variable read at start-up (`LD_PRELOAD`,
`PYTHONPATH`, `LANG`... see `startup_variables`; a variable the preload sets itself, as
scikit-learn sets `KMP_INIT_AT_FORK`, may be missing from the job's), and every job while the
fork server is warming up or gone. No job waits for the fork server.

For the caller a forked job behaves as a local one (both are `PipedExecution`s): it leads its
own session, so `stop` and `kill` reach its whole process group; stdout and stderr share one
pipe; `env` replaces the environment; `memory_limit_bytes` is `RLIMIT_DATA`; when the main
process exits, the rest of its group is killed. The job is the fork server's child, not ours,
so the fork server reports its exit and signals its group for us (`forkserver_protocol`).

Lifetimes: a dedicated thread here starts the fork server and stays until it is gone, because
`PR_SET_PDEATHSIG`, which the fork server sets, fires when the *thread* that started it ends.
Each job sets it too, toward the fork server. So a killed server takes its fork server and jobs
along, and a killed fork server takes its jobs along: the next `start` starts a new fork server
(its jobs run through the fallback until it is ready) and the lost jobs end as killed (-9).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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
from tule.runtime.forkserver_protocol import Channel

# Third-party libraries the built-in algorithms import, in import order: with these and the
# built-ins' own modules preloaded, a forked container runs to its first line in ~30 ms and
# exits after ~0.1 s, where a new interpreter takes ~1.8 s to import them. Callers add their
# own modules through `preload=`. faiss (k-NN) is left out, see `forkserver_process`.
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
)

# Thread-count variables the child applies at run time (besides setting them).
_THREAD_COUNTS = frozenset({*THREAD_VARIABLES, "GOTO_NUM_THREADS", "BLIS_NUM_THREADS"})
# Read once when the interpreter or a library starts (so a forked child would silently ignore a
# different value), unless the child applies them itself (`_APPLIED_IN_CHILD`).
_STARTUP_PREFIXES = (
    *("PYTHON", "LD_", "LC_", "MALLOC_"),  # the interpreter, the dynamic loader, libc
    *("OMP_", "GOMP_", "KMP_", "OPENBLAS_", "GOTO_", "MKL_", "BLIS_", "NUMEXPR_"),  # libraries
)
_STARTUP_NAMES = frozenset({"LANG", "LANGUAGE", "GLIBC_TUNABLES"})
_APPLIED_IN_CHILD = _THREAD_COUNTS | {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}

# How long `start` waits for the fork server's answer (it answers in milliseconds; silence means
# it is stuck, and it is replaced).
_REPLY_TIMEOUT_S = 10.0
# How long closing waits for the fork server to exit before killing it.
_CLOSE_TIMEOUT_S = 5.0
_PYTHON = os.path.abspath(sys.executable)
# The fork server's command: `-c`, so the module is not loaded a second time as `__main__`.
_ENTRY = "from tule.runtime.forkserver_process import main; main()"

log = logging.getLogger(__name__)


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
        # The start-up variables the preloaded libraries saw, and those they set themselves
        # (scikit-learn sets KMP_DUPLICATE_LIB_OK and KMP_INIT_AT_FORK if they are unset).
        self.startup = startup_variables(environment)
        self.set_by_preload: frozenset[str] = frozenset()
        self.ready = threading.Event()
        self.gone = threading.Event()
        self.pid: int | None = None
        self._preload = list(preload)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._replies: dict[int, _Reply] = {}
        self._exits: dict[int, _Exit] = {}
        self._channel: Channel | None = None
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

    def accepts(self, env: Mapping[str, str]) -> bool:
        """Whether a job with environment `env` would see the libraries load as the fork server
        did: same start-up variables, except one the preload sets itself and `env` leaves unset
        (the job's own import would set it the same way)."""
        ours = startup_variables(env)
        for name in ours.keys() | self.startup.keys():
            if name not in ours and name in self.set_by_preload:
                continue
            if ours.get(name) != self.startup.get(name):
                return False
        return True

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
        channel = Channel(ours)
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
            self.startup = {**self.startup, **message["startup_set"]}
            self.set_by_preload = frozenset(message["startup_set"])
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
                    report = self._exits[message["pid"]] = _Exit()
            if reply is None:
                return
            if op == "started":
                reply.pid, reply.exit = message["pid"], report
            else:
                reply.error = (message["errno"], message["error"])
            reply.event.set()
        elif op == "exited":
            with self._lock:
                report = self._exits.pop(message["pid"], None)
            if report is not None:
                report.returncode = message["returncode"]
                report.event.set()

    def _finish(self) -> None:
        with self._lock:
            self.gone.set()
            replies = list(self._replies.values())
            exits = dict(self._exits)
            self._replies.clear()
            self._exits.clear()
        for reply in replies:
            reply.event.set()
        for pid, report in exits.items():
            # Its jobs died with it (PR_SET_PDEATHSIG) unreported; end what they left in their
            # groups. The group id cannot have been reused while any member is alive.
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            report.event.set()


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
        exit_report: _Exit,
    ) -> None:
        self._server = server
        self._exit = exit_report
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
            pid, exit_report = server.start(request, write_fd)
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
        return ForkedExecution(pid, output, spec, self._clock, server, exit_report)

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
        if not server.accepts(env):
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
    """The variables of `env` that take effect when the interpreter or a library starts, which
    a job must share with the fork server to be forked (`PYTHONPATH`, `LANG`, `LD_*`...)."""
    return {k: v for k, v in env.items() if _read_at_startup(k)}


def _check_directory(path: str) -> None:
    """Fail as `subprocess` would for a bad working directory, before anything is forked."""
    mode = os.stat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", path)
    if not os.access(path, os.X_OK):
        raise PermissionError(errno.EACCES, "Permission denied", path)


EXECUTORS["forkserver"] = ForkServerExecutor
