"""Conformance of the executor plug point: every registered executor must pass these.

They run `python -c` argvs, which the fork-server executor hands to its `LocalExecutor` fallback
without forking anything; test_forkserver.py runs them as `python -m` jobs through the fork
server instead.
"""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tule.runtime.executor import (
    EXECUTORS,
    MAX_LINE_BYTES,
    THREAD_VARIABLES,
    Execution,
    LocalExecutor,
    ProcessSpec,
    get_executor,
)

GIB = 1 << 30


class Lines:
    """A line sink that remembers (timestamp, line) pairs and lets a test wait for one."""

    def __init__(self) -> None:
        self.items: list[tuple[float, str]] = []
        self._cond = threading.Condition()

    def __call__(self, timestamp: float, line: str) -> None:
        with self._cond:
            self.items.append((timestamp, line))
            self._cond.notify_all()

    @property
    def text(self) -> list[str]:
        with self._cond:
            return [line for _, line in self.items]

    def wait_for(self, predicate: str, timeout: float = 10.0) -> str:
        with self._cond:
            found = self._cond.wait_for(
                lambda: any(predicate in line for _, line in self.items), timeout
            )
        assert found, f"no line containing {predicate!r} in {self.text}"
        return next(line for line in self.text if predicate in line)


# Running these through the fork-server executor would run its fallback again (~10 s).
CONFORMANCE_EXECUTORS = sorted(set(EXECUTORS) - {"forkserver"})


@pytest.fixture(params=CONFORMANCE_EXECUTORS)
def executor(request: pytest.FixtureRequest) -> LocalExecutor:
    return get_executor(request.param)


def python(code: str, lines: Lines, tmp_path: Path, **kwargs: object) -> ProcessSpec:
    env = kwargs.pop("env", None) or {"PATH": os.environ["PATH"]}
    return ProcessSpec(
        argv=[sys.executable, "-c", textwrap.dedent(code)],
        env=env,  # type: ignore[arg-type]
        cwd=tmp_path,
        on_line=lines,
        **kwargs,  # type: ignore[arg-type]
    )


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its new parent to reap it counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


def test_get_executor_returns_the_registered_kind() -> None:
    assert isinstance(get_executor(), LocalExecutor)
    assert get_executor("local").name == "local"
    with pytest.raises(ValueError, match="unknown executor"):
        get_executor("nope")


@pytest.mark.parametrize("code", [0, 3, 255])
def test_exit_code_is_reported(executor: LocalExecutor, tmp_path: Path, code: int) -> None:
    execution = executor.start(python(f"raise SystemExit({code})", Lines(), tmp_path))
    assert execution.wait(10) == code
    assert execution.returncode == code


def test_stdout_and_stderr_lines_are_captured_in_order_with_timestamps(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    before = time.time()
    execution = executor.start(
        python(
            """
            import sys
            print("out 1", flush=True)
            print("err 1", file=sys.stderr, flush=True)
            sys.stdout.write("crlf\\r\\n"); sys.stdout.flush()
            print("out 2", flush=True)
            sys.stdout.write("no newline at end")
            """,
            lines,
            tmp_path,
        )
    )
    assert execution.wait(10) == 0
    after = time.time()
    assert lines.text == ["out 1", "err 1", "crlf", "out 2", "no newline at end"]
    stamps = [t for t, _ in lines.items]
    assert stamps == sorted(stamps)
    assert before <= stamps[0] and stamps[-1] <= after


def test_long_lines_are_split_and_bad_utf8_is_replaced(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    code = f"""
        import sys
        sys.stdout.buffer.write(b"x" * ({MAX_LINE_BYTES} + 10) + b"\\n")
        sys.stdout.buffer.write(b"bad \\xff byte, euro \\xe2\\x82\\xac\\n")
        """
    assert executor.start(python(code, lines, tmp_path)).wait(10) == 0
    assert [len(line) for line in lines.text[:2]] == [MAX_LINE_BYTES, 10]
    assert lines.text[2] == "bad \ufffd byte, euro \u20ac"


def test_environment_is_exactly_the_given_one(executor: LocalExecutor, tmp_path: Path) -> None:
    lines = Lines()
    os.environ["TULE_TEST_LEAK"] = "leak"
    try:
        spec = python(
            "import os; print(os.environ.get('FOO'), os.environ.get('TULE_TEST_LEAK'))",
            lines,
            tmp_path,
            env={"FOO": "bar", "PATH": os.environ["PATH"]},
        )
        assert executor.start(spec).wait(10) == 0
    finally:
        del os.environ["TULE_TEST_LEAK"]
    assert lines.text == ["bar None"]


def test_working_directory_is_the_given_one(executor: LocalExecutor, tmp_path: Path) -> None:
    lines = Lines()
    assert executor.start(python("import os; print(os.getcwd())", lines, tmp_path)).wait(10) == 0
    assert Path(lines.text[0]).resolve() == tmp_path.resolve()


def test_thread_caps_are_set_unless_the_environment_sets_them(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    code = f"import os; print([os.environ.get(v) for v in {THREAD_VARIABLES!r}])"
    env = {"PATH": os.environ["PATH"], "OMP_NUM_THREADS": "1"}
    assert executor.start(python(code, lines, tmp_path, env=env, threads=3)).wait(10) == 0
    assert lines.text == [str(["1", "3", "3", "3"])]


def test_wait_with_timeout_returns_none_while_running(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    execution = executor.start(python("import time; time.sleep(30)", Lines(), tmp_path))
    try:
        assert execution.wait(0.2) is None
        assert execution.returncode is None
    finally:
        execution.kill()
    assert execution.wait(10) == -9


def test_stop_sends_sigterm_to_the_process(executor: LocalExecutor, tmp_path: Path) -> None:
    lines = Lines()
    code = """
        import os, signal, sys, time
        def on_term(signum, frame):
            # os.write: the signal may arrive while print("ready") is still flushing.
            os.write(1, b"got SIGTERM, saving model\\n")
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        print("ready", flush=True)
        time.sleep(30)
        """
    execution = executor.start(python(code, lines, tmp_path))
    lines.wait_for("ready")
    execution.stop(grace_s=30)
    execution.stop(grace_s=30)  # idempotent
    assert execution.wait(10) == 0, lines.text
    assert "got SIGTERM, saving model" in lines.text


def test_stop_escalates_to_sigkill_after_the_grace_period(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(30)
        """
    execution = executor.start(python(code, lines, tmp_path))
    lines.wait_for("ready")
    started = time.monotonic()
    execution.stop(grace_s=0.5)
    assert execution.wait(0.3) is None  # stop() does not block, and SIGTERM is ignored
    assert execution.wait(10) == -9
    assert 0.4 < time.monotonic() - started < 5


def _spawns_grandchild(then: str) -> str:
    return f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print("grandchild", child.pid, flush=True)
        {then}
        """


def test_kill_reaches_grandchildren_in_the_process_group(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    execution = executor.start(python(_spawns_grandchild("time.sleep(60)"), lines, tmp_path))
    grandchild = int(lines.wait_for("grandchild").split()[1])
    assert alive(grandchild)
    execution.kill()
    assert execution.wait(10) == -9
    assert wait_until_dead(grandchild)


def test_stop_reaches_grandchildren_in_the_process_group(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    execution = executor.start(python(_spawns_grandchild("time.sleep(60)"), lines, tmp_path))
    grandchild = int(lines.wait_for("grandchild").split()[1])
    execution.stop(grace_s=5)
    assert execution.wait(10) == -15
    assert wait_until_dead(grandchild)


def test_leftover_processes_end_with_the_main_process(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    # The grandchild inherits the output pipe; wait() must not hang on it after the main exit.
    lines = Lines()
    execution = executor.start(python(_spawns_grandchild("sys.exit(0)"), lines, tmp_path))
    started = time.monotonic()
    assert execution.wait(10) == 0
    assert time.monotonic() - started < 5
    assert wait_until_dead(int(lines.wait_for("grandchild").split()[1]))


def test_a_failing_line_sink_does_not_block_the_process(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    def broken_sink(timestamp: float, line: str) -> None:
        raise RuntimeError("sink is broken")

    spec = ProcessSpec(
        argv=[sys.executable, "-c", "for i in range(2000): print('x' * 100)"],
        env={"PATH": os.environ["PATH"]},
        cwd=tmp_path,
        on_line=broken_sink,
    )
    assert executor.start(spec).wait(20) == 0


@pytest.mark.parametrize("memory_limit_bytes", [None, GIB])
def test_a_missing_program_raises(
    executor: LocalExecutor, tmp_path: Path, memory_limit_bytes: int | None
) -> None:
    spec = ProcessSpec(
        argv=["tule-no-such-program"],
        env={"PATH": os.environ["PATH"]},
        cwd=tmp_path,
        on_line=Lines(),
        memory_limit_bytes=memory_limit_bytes,
    )
    with pytest.raises(FileNotFoundError):
        executor.start(spec)


def test_memory_limit_keeps_argv_and_pid(executor: LocalExecutor, tmp_path: Path) -> None:
    lines = Lines()
    spec = python(
        "import os, sys; print(os.getpid(), sys.argv[1:])", lines, tmp_path, memory_limit_bytes=GIB
    )
    spec = ProcessSpec(**{**spec.__dict__, "argv": [*spec.argv, "a", "b c"]})
    execution: Execution = executor.start(spec)
    assert execution.wait(10) == 0
    assert lines.text == [f"{execution.pid} ['a', 'b c']"]


def test_memory_limit_fails_a_process_allocating_beyond_it(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    code = "b = bytearray(3 * 2**30); print('allocated', len(b))"
    execution = executor.start(python(code, lines, tmp_path, memory_limit_bytes=GIB))
    assert execution.wait(30) not in (0, None)
    assert any("MemoryError" in line for line in lines.text)


def test_memory_limit_lets_ml_libraries_train(executor: LocalExecutor, tmp_path: Path) -> None:
    lines = Lines()
    code = """
        import numpy, torch, xgboost
        torch.set_num_threads(8)
        X = numpy.random.default_rng(0).random((500, 8))
        y = (X[:, 0] > 0.5).astype(float)
        booster = xgboost.train(
            {"objective": "binary:logistic", "nthread": 8}, xgboost.DMatrix(X, label=y), 10
        )
        layer = torch.nn.Linear(8, 1)
        loss = layer(torch.tensor(X, dtype=torch.float32)).pow(2).mean()
        loss.backward()
        print("trained", booster.num_boosted_rounds())
        """
    spec = python(code, lines, tmp_path, threads=8, memory_limit_bytes=4 * GIB)
    assert executor.start(spec).wait(120) == 0, lines.text
    assert lines.text[-1] == "trained 10"


def test_wait_returns_even_if_an_escaped_process_holds_the_output(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    # A daemon that left the process group (setsid) keeps the pipe open and cannot be killed
    # with the group; wait() gives up on its output shortly after the main process exits.
    lines = Lines()
    code = """
        import subprocess, sys
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
        )
        print("grandchild", child.pid, flush=True)
        """
    execution = executor.start(python(code, lines, tmp_path))
    try:
        assert execution.wait(10) == 0
    finally:
        os.kill(int(lines.wait_for("grandchild").split()[1]), 9)


def test_a_process_outlives_the_short_lived_thread_that_started_it(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    # PR_SET_PDEATHSIG fires when the forking thread ends; starting from a pool thread that
    # then exits must not kill the child (hosting starts instances from such threads).
    lines = Lines()
    started: list[Execution] = []
    spec = python("import time; print('up', flush=True); time.sleep(30)", lines, tmp_path)

    def start() -> None:
        started.append(executor.start(spec))
        lines.wait_for("up")  # the launcher has armed its death signal by now

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    execution = started[0]
    time.sleep(0.3)
    assert execution.wait(0.2) is None, "the child died with the thread that started it"
    execution.kill()
    execution.wait(5)
