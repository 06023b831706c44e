"""Script mode's requirements.txt: a cached virtualenv layered over the server's packages.

The training toolkit runs `pip install -r requirements.txt` before the user's script
(aws-apis.md §2.8). tule must not install into its own environment, so each distinct
requirements file gets a virtualenv of its own, created without pip and layered over the
server's environment by a `.pth` file that adds the server's site-packages directories as site
directories: every server package (numpy, torch, tule itself, pip) stays importable, pip
counts them as installed and only adds what is missing or a different version, which then
shadows the server's copy because the venv's own site-packages comes first on `sys.path`.

Venvs are cached under `<cache_dir>/<sha256 of the file>[:16]` and marked complete by a
`.complete` file naming the base interpreter. Builders of the same hash take an exclusive
`flock` and build in place: a venv cannot be renamed after pip has written absolute paths into
it (console-script shebangs), so a lock, not temp-and-rename, keeps concurrent callers (threads
or processes) from corrupting each other; those who wait reuse the winner's venv.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# How many of pip's last lines a RequirementsError quotes.
ERROR_TAIL_LINES = 15
_COMPLETE = ".complete"
_PTH_NAME = "_tule_base_packages.pth"

# Run by the base interpreter: its site-packages directories and its `pythonX.Y` directory name.
_DESCRIBE_BASE = """\
import json, os, sys
dirs = [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")]
print(json.dumps({"site": dirs, "version": "python%d.%d" % sys.version_info[:2]}))
"""


class RequirementsError(Exception):
    """Installing a requirements file failed; the message ends with pip's last lines."""


def requirements_python(
    requirements: Path, cache_dir: Path, base_python: str, on_line: Callable[[str], None]
) -> str:
    """The python executable of a venv with `requirements` installed over the server's packages.

    pip's output (and any venv-creation output) is streamed line by line to `on_line`.
    """
    # Absolute: pip runs in the requirements' directory, and callers keep the returned path.
    requirements = Path(requirements).absolute()
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    cache_dir = Path(cache_dir).absolute()
    cache_dir.mkdir(parents=True, exist_ok=True)
    venv = cache_dir / digest
    python = venv / "bin" / "python"
    if _is_complete(venv, base_python):
        return str(python)
    with _exclusive(cache_dir / f"{digest}.lock"):
        # Another caller may have finished it while this one waited for the lock.
        if _is_complete(venv, base_python):
            return str(python)
        shutil.rmtree(venv, ignore_errors=True)
        try:
            _build(venv, requirements, base_python, on_line)
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        (venv / _COMPLETE).write_text(base_python, encoding="utf-8")
    return str(python)


def _is_complete(venv: Path, base_python: str) -> bool:
    """True for a finished venv built over the same base interpreter."""
    try:
        return (venv / _COMPLETE).read_text(encoding="utf-8") == base_python
    except OSError:
        return False


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(
    venv: Path, requirements: Path, base_python: str, on_line: Callable[[str], None]
) -> None:
    described = subprocess.run(
        [base_python, "-c", _DESCRIBE_BASE], capture_output=True, text=True, check=False
    )
    if described.returncode != 0:
        raise RequirementsError(f"cannot run {base_python}: {described.stderr.strip()}")
    base = json.loads(described.stdout)
    _run(
        [base_python, "-m", "venv", "--without-pip", str(venv)],
        on_line,
        f"creating a virtualenv for {requirements.name} failed",
        cwd=requirements.parent,
    )
    site_packages = venv / "lib" / base["version"] / "site-packages"
    # addsitedir (not a bare path line) also runs the base's own .pth files, which is how
    # editable installs such as tule's put themselves on sys.path.
    lines = [f"import site; site.addsitedir({directory!r})\n" for directory in base["site"]]
    (site_packages / _PTH_NAME).write_text("".join(lines), encoding="utf-8")
    _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
            str(requirements),
        ],
        on_line,
        f"pip install -r {requirements.name} failed",
        # Requirements may name paths relative to their own directory (`./wheels/x.whl`).
        cwd=requirements.parent,
    )


def _run(argv: list[str], on_line: Callable[[str], None], failure: str, cwd: Path) -> None:
    """Run `argv`, streaming its merged output to `on_line`; RequirementsError if it fails."""
    tail: deque[str] = deque(maxlen=ERROR_TAIL_LINES)
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as process:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\r\n")
            if line.strip():
                tail.append(line)
            on_line(line)
        code = process.wait()
    if code != 0:
        last = "\n".join(tail)
        raise RequirementsError(f"{failure} (exit code {code}):\n{last}")
