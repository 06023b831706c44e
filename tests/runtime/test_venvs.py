"""Script mode's requirements.txt venvs: layered over the server, cached, failing clearly."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tule.runtime.venvs import RequirementsError, requirements_python


def test_installed_requirements_give_a_cached_venv_over_the_server_packages(
    tmp_path: Path,
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy\n")
    cache = tmp_path / "venvs"
    lines: list[str] = []
    results: list[str] = []

    def build() -> None:
        results.append(requirements_python(requirements, cache, sys.executable, lines.append))

    # Two callers at once must agree on one venv and not corrupt it.
    builders = [threading.Thread(target=build) for _ in range(2)]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join(120)
    assert len(results) == 2 and results[0] == results[1]
    python = Path(results[0])
    assert python.parent.parent.parent == cache
    assert any("already satisfied" in line for line in lines), lines

    probe = "import sys, numpy, tule; print(sys.prefix)"
    prefix = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    assert Path(prefix.stdout.strip()) == python.parent.parent

    started = time.monotonic()
    lines.clear()
    assert requirements_python(requirements, cache, sys.executable, lines.append) == str(python)
    assert time.monotonic() - started < 0.5
    assert lines == []


def test_an_impossible_requirement_raises_with_pips_last_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No index: pip fails at once and offline instead of asking PyPI.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("this-package-does-not-exist-tule==9.9\n")
    lines: list[str] = []
    with pytest.raises(RequirementsError) as error:
        requirements_python(requirements, tmp_path / "venvs", sys.executable, lines.append)
    message = str(error.value)
    assert message.startswith("pip install -r requirements.txt failed (exit code 1):")
    assert "this-package-does-not-exist-tule" in message
    assert message.endswith([line for line in lines if line.strip()][-1])
    # A failed build leaves no venv behind to be mistaken for a finished one.
    assert [p.name for p in (tmp_path / "venvs").iterdir() if p.is_dir()] == []
