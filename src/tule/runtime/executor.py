"""The executor plug point: starting a worker process, streaming its output, stopping it.

An `Executor` starts one process from a `ProcessSpec` and hands back an `Execution` to wait on,
stop or kill. `LocalExecutor` runs the process on this machine, the way a SageMaker instance
runs a container:

- The child is the leader of its own process group (a new session), so `stop` and `kill`
  reach everything it started, as `docker stop` reaches every process in a container.
- When the main process exits, whatever it left running in its group is killed, because a
  container ends with its main process. The exit is observed without reaping (`waitid` with
  `WNOWAIT`), so the group id cannot be reused by an unrelated process in the meantime.
- stdout and stderr share one pipe, so lines arrive in the order they were written, as they do
  in a training job's CloudWatch log stream. Lines are decoded as UTF-8 with replacement and
  split every 256 KiB so a process printing without newlines cannot exhaust memory.

Memory limit: `RLIMIT_DATA`, set in the child before it execs the program. Linux (>= 4.7)
counts private writable mappings against it (heap, anonymous `mmap`, thread stacks), so a
process that allocates beyond the limit gets `MemoryError` / `bad_alloc` and exits non-zero.
`RLIMIT_AS` was measured and rejected: it also counts address space that is only reserved
(`PROT_NONE`) - glibc's 64 MiB per-thread malloc arenas, OpenMP and BLAS thread pools - so
importing numpy, torch and xgboost and training with 16 threads failed under a 2 GiB
`RLIMIT_AS` and even thread creation failed under 1 GiB, while the same child ran under a 1 GiB
`RLIMIT_DATA`; a child allocating 3 GiB fails under either limit at 1 GiB. (CUDA reserves
terabytes of address space, another reason to leave `RLIMIT_AS` alone.) The limit applies to
each process of the job on its own, not to their sum.

Every child starts through a tiny launcher (`python -I -S -c ...`, which then `exec`s the
program, keeping the pid) rather than `preexec_fn`: the server is multi-threaded, and running
Python code between `fork` and `exec` in such a process can deadlock. The launcher applies the
memory limit and, on Linux, asks for SIGKILL when the server dies (`PR_SET_PDEATHSIG`), so a
crashed or killed server leaves no training process behind (its jobs are failed as
interrupted when it starts again). It costs about 20 ms per start.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import logging
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tule.clock import Clock, SystemClock

LineSink = Callable[[float, str], None]

# Longest line delivered in one piece; longer ones are split (256 KiB).
MAX_LINE_BYTES = 256 * 1024
# Variables through which numeric libraries (OpenMP, OpenBLAS, MKL, numexpr) size thread pools.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# After the main process exits, how long to wait for the pipe to close: a process that left the
# group (a daemon that called setsid) may hold it open forever.
DRAIN_S = 2.0
# How often the reader wakes to check whether it should give up draining.
_POLL_S = 0.1
# Exit status the launcher uses when the program cannot be executed (as shells do).
_CANNOT_EXECUTE = 127

_LAUNCHER = """\
import ctypes, os, resource, signal, sys
parent, limit = int(sys.argv[1]), sys.argv[2]
if sys.platform.startswith("linux"):
    # PR_SET_PDEATHSIG (1): die with the server, even when it is SIGKILLed.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    if os.getppid() != parent:
        sys.exit(137)
if limit != "-":
    limit = int(limit)
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
try:
    os.execv(sys.argv[3], sys.argv[4:])
except OSError as e:
    sys.stderr.write(f"cannot run {sys.argv[4]!r}: {e}\\n")
    sys.exit(127)
"""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessSpec:
    """What to run: program and arguments, the child's complete environment, and its limits.

    `on_line` is called from a reader thread with (epoch seconds when read, line without its
    newline) for every stdout and stderr line. `threads`, when set, caps the thread pools of
    numeric libraries (unless `env` already sets their variables); `memory_limit_bytes` is
    enforced in the child (see the module docstring).
    """

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    on_line: LineSink
    threads: int | None = None
    memory_limit_bytes: int | None = None
    name: str = "worker"


class Execution(ABC):
    """A started process."""

    pid: int

    @abstractmethod
    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code (negative: killed by that signal), or None if still running after
        `timeout` seconds. Returns only after every output line has been delivered."""

    @abstractmethod
    def stop(self, grace_s: float = 120.0) -> None:
        """SIGTERM to the whole process group, SIGKILL after `grace_s` if it is still alive.
        Does not block; calling it again (or after exit) does nothing."""

    @abstractmethod
    def kill(self) -> None:
        """SIGKILL to the whole process group, now."""

    @property
    @abstractmethod
    def returncode(self) -> int | None:
        """The exit code once `wait` would return it, else None."""


class Executor(ABC):
    """Starts processes somewhere (this machine; later perhaps containers or remote hosts)."""

    name: str

    @abstractmethod
    def start(self, spec: ProcessSpec) -> Execution:
        """Start the process; raises OSError if the program cannot be found or executed."""


def child_environment(spec: ProcessSpec) -> dict[str, str]:
    """The child's environment: `spec.env` plus the thread caps it does not set itself."""
    env = dict(spec.env)
    if spec.threads is not None:
        for variable in THREAD_VARIABLES:
            env.setdefault(variable, str(spec.threads))
    return env


def resolve_program(program: str, env: dict[str, str], cwd: Path) -> str:
    """The absolute path of `program`, looked up on the child's PATH as `execvp` would."""
    if os.sep in program:
        path = Path(program) if os.path.isabs(program) else cwd / program
        if not path.is_file():
            raise FileNotFoundError(errno.ENOENT, "No such file", str(path))
        if not os.access(path, os.X_OK):
            raise PermissionError(errno.EACCES, "Not executable", str(path))
        return str(path)
    found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise FileNotFoundError(errno.ENOENT, "Not found on PATH", program)
    return os.path.abspath(found)


class PipedExecution(Execution):
    """A started process whose stdout and stderr arrive merged on one pipe, leader of its own
    process group.

    This class streams the lines and implements `wait`, `stop` (with its SIGKILL escalation)
    and `kill`; a subclass says how the main process's exit is observed, how it is reaped and
    how its group is signalled, which depends on whose child the process is.
    """

    def __init__(self, pid: int, output: IO[bytes], spec: ProcessSpec, clock: Clock) -> None:
        self.pid = pid
        self._output = output
        self._spec = spec
        self._clock = clock
        self._lock = threading.Lock()
        self._reaped = False
        self._exited_at: float | None = None
        self._returncode: int | None = None
        self._done = threading.Event()
        self._stop_requested = False
        self._kill_timer: threading.Timer | None = None
        self._sink_failed = False
        self._reader = threading.Thread(
            target=self._read_lines, name=f"{spec.name}-{self.pid}-output", daemon=True
        )
        self._waiter = threading.Thread(
            target=self._await_exit, name=f"{spec.name}-{self.pid}-exit", daemon=True
        )
        self._reader.start()
        self._waiter.start()

    @abstractmethod
    def _await_main_exit(self) -> None:
        """Block until the main process has exited, without reaping it: until it is reaped its
        process group id cannot be reused, so signalling the group stays safe."""

    @abstractmethod
    def _reap(self) -> int:
        """With the lock held, once the main process has exited: kill what is left in its group,
        reap it and return its exit code (negative: killed by that signal)."""

    @abstractmethod
    def _signal_group(self, signum: int) -> None:
        """Send `signum` to the process group. Callers hold the lock and have checked that the
        leader is not reaped yet, so the group id still belongs to this job."""

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._done.wait(timeout):
            return None
        return self._returncode

    @property
    def returncode(self) -> int | None:
        return self._returncode if self._done.is_set() else None

    def stop(self, grace_s: float = 120.0) -> None:
        with self._lock:
            if self._stop_requested or self._reaped:
                return
            self._stop_requested = True
            self._signal_group(signal.SIGTERM)
            timer = threading.Timer(grace_s, self.kill)
            timer.name = f"{self._spec.name}-{self.pid}-kill"
            timer.daemon = True
            self._kill_timer = timer
            timer.start()

    def kill(self) -> None:
        with self._lock:
            if not self._reaped:
                self._signal_group(signal.SIGKILL)

    def _await_exit(self) -> None:
        self._await_main_exit()
        with self._lock:
            # The container is gone once its main process is: the rest of the group ends too.
            self._returncode = self._reap()
            self._reaped = True
            self._exited_at = time.monotonic()
            if self._kill_timer is not None:
                self._kill_timer.cancel()
        self._reader.join()
        self._done.set()

    def _read_lines(self) -> None:
        stream = self._output
        fd = stream.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        buffer = bytearray()
        try:
            while True:
                if not poller.poll(_POLL_S * 1000):
                    exited_at = self._exited_at
                    if exited_at is not None and time.monotonic() - exited_at > DRAIN_S:
                        break
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buffer += chunk
                self._deliver_complete_lines(buffer, decoder)
            if buffer:
                self._deliver(decoder.decode(bytes(buffer), final=True))
        finally:
            stream.close()

    def _deliver_complete_lines(
        self, buffer: bytearray, decoder: codecs.IncrementalDecoder
    ) -> None:
        while True:
            newline = buffer.find(b"\n", 0, MAX_LINE_BYTES + 1)
            if newline >= 0:
                line = bytes(buffer[:newline])
                del buffer[: newline + 1]
                self._deliver(decoder.decode(line, final=True).removesuffix("\r"))
            elif len(buffer) >= MAX_LINE_BYTES:
                # A piece of an over-long line: keep a split multi-byte character for the next.
                piece = bytes(buffer[:MAX_LINE_BYTES])
                del buffer[:MAX_LINE_BYTES]
                self._deliver(decoder.decode(piece, final=False))
            else:
                return

    def _deliver(self, line: str) -> None:
        try:
            self._spec.on_line(self._clock.time(), line)
        except Exception:
            # The sink belongs to the caller; if it fails we must keep draining the pipe, or
            # the child would block on a full pipe forever. Report it once, not per line.
            if not self._sink_failed:
                self._sink_failed = True
                log.exception("line sink of %s (pid %d) failed", self._spec.name, self.pid)


class LocalExecution(PipedExecution):
    """A child process of this one, started with `subprocess`."""

    def __init__(self, process: subprocess.Popen[bytes], spec: ProcessSpec, clock: Clock) -> None:
        assert process.stdout is not None
        self._process = process
        super().__init__(process.pid, process.stdout, spec, clock)

    def _await_main_exit(self) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)

    def _reap(self) -> int:
        self._signal_group(signal.SIGKILL)
        return self._process.wait()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)


class LocalExecutor(Executor):
    """Runs processes on this machine with `subprocess`."""

    name = "local"

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()

    def start(self, spec: ProcessSpec) -> Execution:
        env = child_environment(spec)
        program = resolve_program(spec.argv[0], env, spec.cwd)
        # Every child starts through the launcher, which ties its life to this process and
        # applies the memory limit before it execs the program (no preexec_fn: running Python
        # between fork and exec in a threaded server can deadlock).
        limit = "-" if spec.memory_limit_bytes is None else str(spec.memory_limit_bytes)
        launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid()), limit]
        argv = [*launcher, program, *spec.argv]
        process = _SPAWNER.popen(
            argv,
            executable=sys.executable,
            env=env,
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        return LocalExecution(process, spec, self._clock)


class _Spawner:
    """Starts every child from one thread that lives as long as this process.

    `PR_SET_PDEATHSIG` fires when the *thread* that forked the child ends, not the process: an
    endpoint instance started from a pool thread was SIGKILLed the moment that thread finished
    waiting for its health check. Forking from this thread ties every child to the life of the
    server itself, as intended."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[tuple[Future[Any], list[str], dict[str, Any]]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, argv: list[str], **options: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="spawner", daemon=True)
                self._thread.start()
        future: Future[Any] = Future()
        self._requests.put((future, argv, options))
        return future.result()

    def _run(self) -> None:
        while True:
            future, argv, options = self._requests.get()
            try:
                future.set_result(subprocess.Popen(argv, **options))
            except BaseException as exc:
                future.set_exception(exc)


_SPAWNER = _Spawner()


EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor}


def get_executor(name: str = "local") -> Executor:
    """A new executor of the registered kind `name`."""
    try:
        kind = EXECUTORS[name]
    except KeyError:
        known = ", ".join(sorted(EXECUTORS))
        raise ValueError(f"unknown executor {name!r}; known executors: {known}") from None
    return kind()


# The fork-server executor builds on the classes above and registers itself in EXECUTORS when
# imported; importing it here makes it available wherever executors are looked up by name.
import tule.runtime.forkserver  # noqa: E402, F401
