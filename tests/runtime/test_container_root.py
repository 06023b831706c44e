"""A private /opt/ml: the workspace mounted there for one process tree, nothing else changed,
and the executor's launcher (memory limit, death with the server) still in force."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tule.runtime import container_root
from tule.runtime.executor import LocalExecutor, ProcessSpec

pytestmark = pytest.mark.skipif(
    container_root.probe() is not None,
    reason=f"no private /opt/ml on this machine: {container_root.probe()}",
)


def _run(argv: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        container_root.wrap(argv, root), cwd=root, capture_output=True, text=True, check=False
    )


def test_the_workspace_is_at_opt_ml_and_the_rest_of_opt_is_kept(tmp_path: Path) -> None:
    (tmp_path / "processing").mkdir()
    (tmp_path / "processing" / "in.txt").write_text("hello")
    script = textwrap.dedent(
        """
        import json, os
        print(json.dumps({
            "read": open("/opt/ml/processing/in.txt").read(),
            "opt": sorted(os.listdir("/opt")),
            "cwd": os.getcwd(),
            "uid": os.getuid(),
        }))
        open("/opt/ml/processing/out.txt", "w").write("written inside")
        """
    )
    before = sorted(os.listdir("/opt"))
    done = _run([sys.executable, "-c", script], tmp_path)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["read"] == "hello"
    assert seen["cwd"] == "/opt/ml"
    assert seen["uid"] == 0  # root of its own user namespace only
    assert sorted(set(seen["opt"]) - {"ml"}) == [n for n in before if n != "ml"]
    out = tmp_path / "processing" / "out.txt"
    assert out.read_text() == "written inside"
    assert out.stat().st_uid == os.getuid()  # the real user owns what it wrote
    assert sorted(os.listdir("/opt")) == before  # nothing changed outside


def test_a_failing_program_reports_why(tmp_path: Path) -> None:
    done = _run(["/nonexistent/program"], tmp_path)
    assert done.returncode == 127
    assert "cannot run '/nonexistent/program'" in done.stderr


def test_relative_programs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        container_root.wrap(["python3", "x.py"], tmp_path)


def test_the_launcher_limits_still_apply(tmp_path: Path) -> None:
    lines: list[str] = []
    limit = 1 << 30
    spec = ProcessSpec(
        argv=container_root.wrap(
            ["/bin/sh", "-c", "grep 'Max data size' /proc/self/limits"], tmp_path
        ),
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        on_line=lambda _, line: lines.append(line),
        memory_limit_bytes=limit,
    )
    assert LocalExecutor().start(spec).wait(30) == 0
    assert str(limit) in lines[0]


PARENT = """
import sys, time
from pathlib import Path
from tule.runtime import container_root
from tule.runtime.executor import LocalExecutor, ProcessSpec
root = Path(sys.argv[1])
spec = ProcessSpec(argv=container_root.wrap(["/bin/sleep", "600"], root), env={}, cwd=root,
                   on_line=lambda t, line: None)
print(LocalExecutor().start(spec).pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_the_process_dies_with_the_server(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "the wrapped process outlived its server"
        time.sleep(0.05)
