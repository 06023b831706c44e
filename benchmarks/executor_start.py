"""Executor start-up benchmark: what starting a built-in algorithm's worker costs.

Times, from `Executor.start` to the end of `Execution.wait`, a `python -m <module>` job whose
module only imports xgboost and the container's training entry point (as
`python -m tule.algorithms.container train` does before any work), through `LocalExecutor`
(a new interpreter per job) and through `ForkServerExecutor` (forked from a warm fork server
preloading the libraries and the built-ins' modules as the SageMaker service's does, started and
made ready before timing). Also times the same for a module importing
nothing. Prints medians of `--runs` (default 5) and the ratios.

    python benchmarks/executor_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tule.algorithms.container.preload import BUILTIN_ALGORITHM_PRELOAD
from tule.runtime.executor import Executor, LocalExecutor, ProcessSpec
from tule.runtime.forkserver import DEFAULT_PRELOAD, ForkedExecution, ForkServerExecutor

MODULES = {
    "imports xgboost": "import xgboost\nimport tule.algorithms.container.train\n",
    "imports nothing": "",
}


def _start_to_exit(executor: Executor, spec: ProcessSpec) -> float:
    started = time.perf_counter()
    execution = executor.start(spec)
    if execution.wait(120) != 0:
        raise SystemExit(f"{spec.argv} failed through {executor.name}")
    if isinstance(executor, ForkServerExecutor) and not isinstance(execution, ForkedExecution):
        raise SystemExit("the job did not go through the fork server")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    forkserver = ForkServerExecutor(preload=DEFAULT_PRELOAD + BUILTIN_ALGORITHM_PRELOAD)
    warm_started = time.perf_counter()
    if not forkserver.wait_ready(300):
        raise SystemExit("the fork server did not start")
    print(f"fork server ready after {time.perf_counter() - warm_started:.2f} s (preloading)")
    local = LocalExecutor()
    try:
        with tempfile.TemporaryDirectory() as folder:
            for index, (label, code) in enumerate(MODULES.items()):
                module = f"job{index}"
                (Path(folder) / f"{module}.py").write_text(code)
                spec = ProcessSpec(
                    argv=[sys.executable, "-m", module],
                    env=dict(os.environ),
                    cwd=Path(folder),
                    on_line=lambda timestamp, line: None,
                )
                medians = {}
                for executor in (local, forkserver):
                    runs = [_start_to_exit(executor, spec) for _ in range(args.runs)]
                    medians[executor.name] = statistics.median(runs)
                ratio = medians["forkserver"] / medians["local"]
                print(
                    f"module that {label}: start to exit, median of {args.runs}: "
                    f"local {medians['local']:.3f} s, fork server {medians['forkserver']:.3f} s "
                    f"(fork server / local = {ratio:.2f})"
                )
    finally:
        forkserver.close()


if __name__ == "__main__":
    main()
