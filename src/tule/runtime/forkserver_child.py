"""What runs in a job forked by the fork server: `run_child` turns a fork of the fork-server
process into the job, as a new interpreter running `python -m <module>` would be.

The child leads a new session tied to the fork server (`PR_SET_PDEATHSIG`), closes the fork
server's descriptors, restores the signal handlers a new interpreter starts with, takes the
job's output pipe as stdout and stderr, and applies the job's memory limit (`RLIMIT_DATA`),
working directory and environment before it runs the module as `__main__`.

Thread caps: BLAS and OpenMP libraries size their pools from `OMP_NUM_THREADS` and friends when
they load, which in a forked child was long ago, in the fork server (started without those
variables, so with the libraries' defaults). The child sets the variables as `LocalExecutor`
does and also applies them at run time through threadpoolctl. Limit: OpenMP's cap then holds in
the job's main thread and in threads it starts in OpenMP, but an OpenMP region entered from
another Python thread of the job starts from the default (the built-ins pass `nthread` and
friends explicitly, from `SM_NUM_CPUS`).

What a forked child shares with its siblings and cannot redo: the hash seed (unless the
environment sets `PYTHONHASHSEED`, in which case the job falls back), `sys.flags`, and the
modules already imported (their import-time side effects happened once, in the fork server).
numpy's global random state is reseeded, as Python's `random` reseeds itself after `fork`.
At exit the child does what the interpreter does (joins non-daemon threads, runs atexit
handlers, flushes stdio and the files left open) but then `os._exit`s without tearing the
interpreter down, which would touch, and so copy, every preloaded page: `__del__` methods of
objects still alive at exit do not run.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import importlib
import io
import os
import resource
import runpy
import signal
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from tule.runtime.forkserver_process import Forker

_PR_SET_PDEATHSIG = 1
# Exit status of a child that could not set itself up (as the launcher's "cannot execute").
_SETUP_FAILED = 127


def run_child(message: dict[str, Any], output_fd: int, forker: Forker) -> NoReturn:
    """Become the job of a "start" `message`: a new session tied to the fork server, the job's
    pipe, limits, directory and environment, then the module as `__main__`. Never returns:
    whatever happens, this process must not unwind into the fork server's loop."""
    status = _SETUP_FAILED
    try:
        try:
            os.setsid()
            die_with_parent(forker.libc, forker.pid)
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
            sys.argv = ["-m", *message["args"]]
        except BaseException:
            with contextlib.suppress(BaseException):
                os.write(2, traceback.format_exc().encode(errors="replace"))
            raise
        status = _run_as_main(message["module"])
    finally:
        os._exit(status)


def die_with_parent(libc: ctypes.CDLL, parent: int) -> None:
    """SIGKILL this process when the thread that started it ends (Linux). The fork server ties
    itself to the server's thread this way, and each job to the fork server."""
    if sys.platform.startswith("linux"):
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it ended before we asked
            os._exit(137)


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
    # Per library by its API: threadpoolctl's `limit` matches only prefixes and user APIs, and
    # its "blas" would put one count on OpenBLAS, MKL and BLIS alike.
    for library in controller.lib_controllers if controller is not None else ():
        count = limits.get(library.internal_api)
        if count is not None:
            library.set_num_threads(count)
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
    except SystemExit as request:
        code = _exit_status(request.code)
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        # Without this function's own frame, as in a `python -m` traceback (the hook prints
        # the exception's own traceback).
        if error.__traceback__ is not None:
            error.__traceback__ = error.__traceback__.tb_next
        sys.excepthook(type(error), error, error.__traceback__)
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


def _flush_open_files() -> None:
    """Flush the files the job left open, as the interpreter's teardown does when it frees them
    (`os._exit` skips the teardown, which in a forked child would also copy every preloaded
    page it touches). Only objects made since the fork: the preloaded ones are frozen, which
    `gc.get_objects` leaves out. Text layers first, as they write into their buffers."""
    objects = gc.get_objects()
    for kind in (io.TextIOBase, io.BufferedIOBase):
        for candidate in objects:
            if isinstance(candidate, kind):
                with contextlib.suppress(Exception):
                    if not candidate.closed and candidate.writable():
                        candidate.flush()


def _finalize(code: int) -> int:
    """The interpreter's shutdown: join non-daemon threads, run atexit, flush open files and
    stdio."""
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        try:
            shutdown()
        except BaseException:
            traceback.print_exc()
    atexit._run_exitfuncs()
    _flush_open_files()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            if code == 0:
                code = 120  # as Python exits when it cannot flush stdout
    return code
