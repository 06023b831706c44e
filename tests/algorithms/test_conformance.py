"""Every registered algorithm passes the shipped conformance suite (tule.testing.algorithms)."""

from pathlib import Path

import pytest

from tule.testing.algorithms import conformance_params, run_check


@pytest.mark.parametrize(("algorithm", "check"), conformance_params())
def test_algorithm_conforms(algorithm: str, check: str, tmp_path: Path) -> None:
    run_check(algorithm, check, tmp_path)
