"""float32_lines writes each float32 as str(numpy.float32) does; XGBoost's CSV answer uses it."""

import numpy as np
import pytest

from tule.algorithms.float_text import POSITIONAL_HIGH, POSITIONAL_LOW, SMALL, float32_lines
from tule.algorithms.xgboost_model import encode_csv


def reference(values: np.ndarray) -> bytes:
    return "".join(str(v) + "\n" for v in values).encode()


def bits(start: float, count: int) -> np.ndarray:
    """`count` consecutive float32 values from `start` on."""
    first = np.float32(start).view(np.uint32)
    return np.arange(first, first + count, dtype=np.uint32).view(np.float32)


TRICKY = np.array(
    [
        *(0.5, 1.0, -1.0, 0.0, -0.0, 3.0, 100.0, 0.1, 0.87520003, 1e-4, 1e-5, 1.5e-5, 1e-7),
        *(1e-45, 999999.5, 1e6, 1000000.5, 1234567.0, 9999999.0, 1e7, 1e15, 1e16, 3.4e38),
        *(-2.5e-3, np.nan, np.inf, -np.inf, POSITIONAL_LOW, POSITIONAL_HIGH),
    ],
    dtype=np.float32,
)


@pytest.mark.parametrize(
    "values",
    [
        TRICKY,
        # Every float32 around both ends of the band Arrow writes, and across a whole binade.
        bits(POSITIONAL_LOW, 200_000),
        bits(float(np.nextafter(np.float32(POSITIONAL_LOW), np.float32(0))) / 1.01, 200_000),
        bits(POSITIONAL_HIGH / 1.01, 300_000),
        bits(0.5, 1 << 18),
        np.random.default_rng(3)
        .integers(0, 2**32, 300_000, dtype=np.uint64)
        .astype(np.uint32)
        .view(np.float32),
        np.random.default_rng(4).random(100_000, dtype=np.float32),
    ],
    ids=["tricky", "low-edge", "below-low", "high-edge", "binade", "any-bits", "probabilities"],
)
def test_float32_lines_matches_numpy_str(values: np.ndarray) -> None:
    assert float32_lines(values) == reference(values)


def test_float32_lines_of_a_slice_and_of_nothing() -> None:
    values = np.random.default_rng(5).random(1000, dtype=np.float32)
    assert float32_lines(values[10:20]) == reference(values[10:20])
    assert float32_lines(values[::3]) == reference(values[::3])
    assert float32_lines(values[:0]) == b""


def test_float32_lines_is_the_same_on_both_sides_of_the_short_path() -> None:
    """Up to SMALL values numpy writes each; above, Arrow writes the band: same bytes."""
    values = np.concatenate([TRICKY, np.random.default_rng(7).random(200, dtype=np.float32)])
    for count in (1, 2, SMALL - 1, SMALL, SMALL + 1, 2 * SMALL + 3):
        for start in (0, 5, len(TRICKY) - 3):
            part = values[start : start + count]
            assert float32_lines(part) == reference(part)
            assert float32_lines(values[start::3][:count]) == reference(values[start::3][:count])


def test_float32_lines_takes_only_1d_float32() -> None:
    with pytest.raises(TypeError):
        float32_lines(np.zeros(3, dtype=np.float64))
    with pytest.raises(TypeError):
        float32_lines(np.zeros((3, 1), dtype=np.float32))


def test_xgboost_csv_answer_is_str_of_each_score() -> None:
    scores = np.concatenate([TRICKY, np.random.default_rng(6).random(5000, dtype=np.float32)])
    assert encode_csv({"score": scores}) == reference(scores)
    # Other dtypes keep the value-by-value path, with the same spelling rule.
    doubles = np.array([0.25, 1.0, 1e-5], dtype=np.float64)
    assert encode_csv({"score": doubles}) == b"0.25\n1.0\n1e-05\n"
