"""The fork-server executor: `python -m` jobs forked from a warm process behave as local ones."""

from __future__ import annotations

import importlib.util
import os
import signal
import statistics
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_executor import Lines, alive, wait_until_dead

from tule.algorithms.container.preload import BUILTIN_ALGORITHM_PRELOAD
from tule.runtime.executor import (
    EXECUTORS,
    THREAD_VARIABLES,
    Execution,
    Executor,
    LocalExecutor,
    ProcessSpec,
    get_executor,
)
from tule.runtime.forkserver import (
    DEFAULT_PRELOAD,
    ForkedExecution,
    ForkServerExecutor,
    startup_variables,
)

GIB = 1 << 30


@pytest.fixture(scope="module")
def forkserver() -> Iterator[ForkServerExecutor]:
    # As the SageMaker service starts it: the libraries and the built-ins' own modules.
    executor = ForkServerExecutor(preload=DEFAULT_PRELOAD + BUILTIN_ALGORITHM_PRELOAD)
    assert executor.wait_ready(120), "the fork server did not start"
    yield executor
    executor.close()


def base_env(**extra: str) -> dict[str, str]:
    """PATH and the variables a job must share with the fork server to be forked."""
    return {"PATH": os.environ["PATH"], **startup_variables(os.environ), **extra}


def job(
    tmp_path: Path,
    code: str,
    lines: Lines,
    *args: str,
    module: str = "job",
    **kwargs: object,
) -> ProcessSpec:
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(code))
    env = kwargs.pop("env", None) or base_env()
    return ProcessSpec(
        argv=[sys.executable, "-m", module, *args],
        env=env,  # type: ignore[arg-type]
        cwd=tmp_path,
        on_line=lines,
        **kwargs,  # type: ignore[arg-type]
    )


def forked(executor: Executor, spec: ProcessSpec) -> Execution:
    execution = executor.start(spec)
    assert isinstance(execution, ForkedExecution), "the job did not go through the fork server"
    return execution


def test_it_is_registered() -> None:
    assert EXECUTORS["forkserver"] is ForkServerExecutor
    executor = get_executor("forkserver")
    assert executor.name == "forkserver"
    assert executor.server_pid is None  # nothing starts before it is needed


def test_the_default_preload_is_libraries_and_the_built_ins_add_their_modules() -> None:
    assert "xgboost" in DEFAULT_PRELOAD
    assert not [name for name in DEFAULT_PRELOAD if name.split(".")[0] == "tule"]
    # A misspelt name would only show as a warning when the fork server starts.
    missing = [name for name in BUILTIN_ALGORITHM_PRELOAD if importlib.util.find_spec(name) is None]
    assert not missing


def test_exit_codes_argv_pid_and_path(forkserver: ForkServerExecutor, tmp_path: Path) -> None:
    code = """
        import os, sys
        print(os.getpid(), sys.argv, sys.path[0], __name__, flush=True)
        raise SystemExit(int(sys.argv[1]))
        """
    for status in (0, 3, 255):
        lines = Lines()
        execution = forked(forkserver, job(tmp_path, code, lines, str(status), "b c"))
        assert execution.wait(10) == status
        assert execution.returncode == status
        argv = [str(tmp_path / "job.py"), str(status), "b c"]
        assert lines.text == [f"{execution.pid} {argv} {tmp_path} __main__"]


def test_stdout_and_stderr_lines_in_order_with_timestamps(
    forkserver: ForkServerExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    code = """
        import sys
        print("out 1", flush=True)
        print("err 1", file=sys.stderr, flush=True)
        sys.stdout.write("crlf\\r\\n"); sys.stdout.flush()
        print("out 2")
        sys.stdout.write("no newline at end")
        """
    before = time.time()
    assert forked(forkserver, job(tmp_path, code, lines)).wait(10) == 0
    after = time.time()
    assert lines.text == ["out 1", "err 1", "crlf", "out 2", "no newline at end"]
    stamps = [t for t, _ in lines.items]
    assert stamps == sorted(stamps)
    assert before <= stamps[0] and stamps[-1] <= after


def test_an_uncaught_exception_exits_1_with_its_traceback(
    forkserver: ForkServerExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    code = """
        def train():
            raise ValueError("bad hyperparameter")
        train()
        """
    assert forked(forkserver, job(tmp_path, code, lines)).wait(10) == 1
    assert lines.text[0] == "Traceback (most recent call last):"
    assert lines.text[-1] == "ValueError: bad hyperparameter"
    assert any("in train" in line for line in lines.text)
    assert not any("forkserver" in line for line in lines.text)


def test_files_left_open_are_flushed_at_exit(
    forkserver: ForkServerExecutor, tmp_path: Path
) -> None:
    code = """
        import threading
        model = open("model.txt", "w")
        model.write("weights")
        def late():
            global log
            log = open("log.bin", "wb")
            log.write(b"trained")
        threading.Thread(target=late).start()
        """
    assert forked(forkserver, job(tmp_path, code, Lines())).wait(10) == 0
    assert (tmp_path / "model.txt").read_text() == "weights"
    assert (tmp_path / "log.bin").read_bytes() == b"trained"


def test_exit_with_a_message_and_a_missing_module(
    forkserver: ForkServerExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    spec = job(tmp_path, "import sys; sys.exit('cannot train')", lines)
    assert forked(forkserver, spec).wait(10) == 1
    assert lines.text == ["cannot train"]
    lines = Lines()
    spec = job(tmp_path, "", lines)
    spec = ProcessSpec(**{**spec.__dict__, "argv": [sys.executable, "-m", "no_such_module"]})
    assert forked(forkserver, spec).wait(10) == 1
    assert "No module named no_such_module" in lines.text[-1]


def test_environment_is_exactly_the_given_one_and_threads_are_capped(
    forkserver: ForkServerExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    code = f"""
        import os
        from threadpoolctl import threadpool_info
        print(os.environ.get("FOO"), os.environ.get("TULE_TEST_LEAK"), os.getcwd())
        print([os.environ.get(v) for v in {THREAD_VARIABLES!r}])
        print(sorted({{(i["internal_api"], i["num_threads"]) for i in threadpool_info()}}))
        """
    os.environ["TULE_TEST_LEAK"] = "leak"
    try:
        spec = job(tmp_path, code, lines, env=base_env(FOO="bar"), threads=1)
        assert forked(forkserver, spec).wait(10) == 0, lines.text
    finally:
        del os.environ["TULE_TEST_LEAK"]
    assert lines.text[0] == f"bar None {tmp_path}"
    assert lines.text[1] == str(["1", "1", "1", "1"])
    # The preloaded libraries sized their pools long before; the cap is applied at run time.
    assert lines.text[2] == str([("openblas", 1), ("openmp", 1)])


def test_a_startup_variable_or_another_argv_goes_to_the_fallback(tmp_path: Path) -> None:
    started: list[ProcessSpec] = []

    class Recording(LocalExecutor):
        def start(self, spec: ProcessSpec) -> Execution:
            started.append(spec)
            return super().start(spec)

    executor = ForkServerExecutor(preload=("json",), fallback=Recording())
    try:
        assert executor.wait_ready(30)
        lines = Lines()
        spec = job(tmp_path, "print('ok')", lines)
        assert forked(executor, spec).wait(10) == 0
        assert not started
        other_argvs = [
            [sys.executable, "-c", "print('ok')"],
            [sys.executable, "-u", "-m", "job"],
            ["/bin/echo", "-m", "job"],
        ]
        for argv in other_argvs:
            execution = executor.start(ProcessSpec(**{**spec.__dict__, "argv": argv}))
            assert not isinstance(execution, ForkedExecution)
            assert execution.wait(10) == 0
        hashed = job(tmp_path, "print('ok')", lines, env=base_env(PYTHONHASHSEED="7"))
        assert not isinstance(executor.start(hashed), ForkedExecution)
        assert len(started) == 4
    finally:
        executor.close()


def test_variables_the_preload_sets_itself_need_not_be_in_the_job_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As scikit-learn does with KMP_DUPLICATE_LIB_OK and KMP_INIT_AT_FORK.
    (tmp_path / "sets_env.py").write_text("import os\nos.environ.setdefault('OMP_DYNAMIC', 'x')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.delenv("OMP_DYNAMIC", raising=False)
    executor = ForkServerExecutor(preload=("sets_env",))
    try:
        assert executor.wait_ready(30)
        lines = Lines()
        code = "import os; print(os.environ.get('OMP_DYNAMIC'))"
        for value in (None, "x"):
            env = base_env() if value is None else base_env(OMP_DYNAMIC=value)
            assert forked(executor, job(tmp_path, code, lines, env=env)).wait(10) == 0
        assert lines.text == ["None", "x"]
        other = executor.start(job(tmp_path, code, lines, env=base_env(OMP_DYNAMIC="y")))
        assert not isinstance(other, ForkedExecution)
        assert other.wait(30) == 0
    finally:
        executor.close()


def test_a_built_in_algorithm_trains_in_a_forked_container(
    forkserver: ForkServerExecutor, tmp_path: Path
) -> None:
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text('{"num_round": "2"}')
    (config / "inputdataconfig.json").write_text('{"train": {"ContentType": "text/csv"}}')
    data = tmp_path / "input" / "data" / "train"
    data.mkdir(parents=True)
    (data / "part-0").write_text("0,0,0,0\n0,1,0,1\n1,9,9,9\n1,10,9,10\n")
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    lines = Lines()
    command = ["train", "--workspace", str(tmp_path), "--algorithm", image]
    spec = ProcessSpec(
        argv=[sys.executable, "-m", "tule.algorithms.container", *command],
        env=base_env(SM_NUM_CPUS="1"),
        cwd=tmp_path,
        on_line=lines,
        threads=1,
        memory_limit_bytes=4 * GIB,
    )
    assert forked(forkserver, spec).wait(30) == 0, lines.text
    assert any("Final configuration" in line for line in lines.text)
    assert (tmp_path / "model" / "xgboost-model").exists()


def test_working_directory_must_exist(forkserver: ForkServerExecutor, tmp_path: Path) -> None:
    spec = job(tmp_path, "print('ok')", Lines())
    with pytest.raises(FileNotFoundError):
        forkserver.start(ProcessSpec(**{**spec.__dict__, "cwd": tmp_path / "missing"}))


def test_wait_with_timeout_returns_none_while_running(
    forkserver: ForkServerExecutor, tmp_path: Path
) -> None:
    execution = forked(forkserver, job(tmp_path, "import time; time.sleep(30)", Lines()))
    try:
        assert execution.wait(0.2) is None
        assert execution.returncode is None
    finally:
        execution.kill()
    assert execution.wait(10) == -9


def test_stop_sends_sigterm_to_the_process(forkserver: ForkServerExecutor, tmp_path: Path) -> None:
    lines = Lines()
    code = """
        import os, signal, sys, time
        def on_term(signum, frame):
            os.write(1, b"got SIGTERM, saving model\\n")
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        print("ready", flush=True)
        time.sleep(30)
        """
    execution = forked(forkserver, job(tmp_path, code, lines))
    lines.wait_for("ready")
    execution.stop(grace_s=30)
    execution.stop(grace_s=30)  # idempotent
    assert execution.wait(10) == 0, lines.text
    assert "got SIGTERM, saving model" in lines.text


def test_stop_escalates_to_sigkill_after_the_grace_period(
    forkserver: ForkServerExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(30)
        """
    execution = forked(forkserver, job(tmp_path, code, lines))
    lines.wait_for("ready")
    started = time.monotonic()
    execution.stop(grace_s=0.5)
    assert execution.wait(0.3) is None
    assert execution.wait(10) == -9
    assert 0.4 < time.monotonic() - started < 5


def _spawns_grandchild(then: str) -> str:
    return f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print("grandchild", child.pid, flush=True)
        {then}
        """


def test_kill_and_the_main_exit_reach_grandchildren(
    forkserver: ForkServerExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    execution = forked(forkserver, job(tmp_path, _spawns_grandchild("time.sleep(60)"), lines))
    grandchild = int(lines.wait_for("grandchild").split()[1])
    assert alive(grandchild)
    execution.kill()
    assert execution.wait(10) == -9
    assert wait_until_dead(grandchild)

    # The grandchild holds the pipe; wait() must not hang on it after the main process exits.
    lines = Lines()
    execution = forked(forkserver, job(tmp_path, _spawns_grandchild("sys.exit(0)"), lines))
    started = time.monotonic()
    assert execution.wait(10) == 0
    assert time.monotonic() - started < 5
    assert wait_until_dead(int(lines.wait_for("grandchild").split()[1]))


def test_memory_limit_fails_a_process_allocating_beyond_it(
    forkserver: ForkServerExecutor, tmp_path: Path
) -> None:
    lines = Lines()
    code = "b = bytearray(3 * 2**30); print('allocated', len(b))"
    execution = forked(forkserver, job(tmp_path, code, lines, memory_limit_bytes=GIB))
    assert execution.wait(30) not in (0, None)
    assert any("MemoryError" in line for line in lines.text)
    lines = Lines()
    code = "b = bytearray(100 * 2**20); print('allocated', len(b))"
    execution = forked(forkserver, job(tmp_path, code, lines, memory_limit_bytes=GIB))
    assert execution.wait(30) == 0, lines.text


def test_concurrent_starts_from_several_threads(
    forkserver: ForkServerExecutor, tmp_path: Path
) -> None:
    (tmp_path / "echo.py").write_text("import sys, time; time.sleep(0.2); print(sys.argv[1])\n")
    results: dict[int, tuple[int | None, list[str]]] = {}

    def run(i: int) -> None:
        for j in range(3):
            lines = Lines()
            spec = ProcessSpec(
                argv=[sys.executable, "-m", "echo", f"{i}-{j}"],
                env=base_env(),
                cwd=tmp_path,
                on_line=lines,
            )
            results[i * 3 + j] = (forked(forkserver, spec).wait(20), lines.text)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i * 3 + j: (0, [f"{i}-{j}"]) for i in range(4) for j in range(3)}


def test_the_fork_server_restarts_after_it_is_killed(tmp_path: Path) -> None:
    executor = ForkServerExecutor(preload=("json",))
    try:
        assert executor.wait_ready(30)
        first = executor.server_pid
        assert first is not None
        lines = Lines()
        code = _spawns_grandchild("time.sleep(60)")
        running = forked(executor, job(tmp_path, code, lines))
        grandchild = int(lines.wait_for("grandchild").split()[1])
        os.kill(first, signal.SIGKILL)
        # Its jobs die with it, and what they started; they end as killed, nothing hangs.
        assert running.wait(10) == -9
        assert wait_until_dead(running.pid)
        assert wait_until_dead(grandchild)
        # The next job runs without it while a new one starts.
        lines = Lines()
        execution = executor.start(job(tmp_path, "print('fallback')", lines))
        assert not isinstance(execution, ForkedExecution)
        assert execution.wait(30) == 0
        assert lines.text == ["fallback"]
        assert executor.wait_ready(30)
        assert executor.server_pid not in (None, first)
        lines = Lines()
        assert forked(executor, job(tmp_path, "print('forked again')", lines)).wait(10) == 0
        assert lines.text == ["forked again"]
    finally:
        executor.close()
    assert wait_until_dead(first)


def test_a_preload_that_starts_a_thread_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "threaded.py").write_text(
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    executor = ForkServerExecutor(preload=("threaded",))
    try:
        assert not executor.wait_ready(30)
        lines = Lines()
        spec = job(tmp_path, "print('ok')", lines, env=base_env())
        execution = executor.start(spec)
        assert not isinstance(execution, ForkedExecution)
        assert execution.wait(30) == 0
        assert lines.text == ["ok"]
    finally:
        executor.close()


def _start_to_exit(executor: Executor, spec: ProcessSpec) -> float:
    started = time.perf_counter()
    execution = executor.start(spec)
    assert execution.wait(60) == 0
    return time.perf_counter() - started


def test_start_time_of_a_trivial_job(forkserver: ForkServerExecutor, tmp_path: Path) -> None:
    spec = job(tmp_path, "print('hi')", Lines())
    forked_s = statistics.median(_start_to_exit(forkserver, spec) for _ in range(5))
    local_s = statistics.median(_start_to_exit(LocalExecutor(), spec) for _ in range(3))
    print(f"\ntrivial job, start to exit: fork server {forked_s:.3f} s, local {local_s:.3f} s")


@pytest.mark.slow
def test_a_job_importing_xgboost_starts_faster_through_the_fork_server(
    forkserver: ForkServerExecutor, tmp_path: Path
) -> None:
    assert "xgboost" in DEFAULT_PRELOAD
    spec = job(tmp_path, "import xgboost; print(xgboost.__version__)", Lines())
    forked_s = statistics.median(_start_to_exit(forkserver, spec) for _ in range(3))
    local_s = statistics.median(_start_to_exit(LocalExecutor(), spec) for _ in range(3))
    print(f"\nxgboost job, start to exit: fork server {forked_s:.3f} s, local {local_s:.3f} s")
    assert forked_s < 0.5 * local_s
