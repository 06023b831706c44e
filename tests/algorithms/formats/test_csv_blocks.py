"""CSV rows parsed in many blocks land in the arrays exactly as a one-cell-at-a-time parse would."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tule.algorithms.base import ChannelData
from tule.algorithms.formats import csv as csv_format
from tule.algorithms.formats import iter_batches, read_dataset
from tule.algorithms.formats.dataset import ReadOptions


def _reference(text: str, skip: int) -> tuple[np.ndarray, np.ndarray]:
    """Leading columns and features parsed cell by cell with Python's float (empty = NaN)."""
    cells = [
        [float(c) if c.strip() else np.nan for c in line.split(",")]
        for line in text.splitlines()
        if line.strip()
    ]
    matrix = np.array(cells, dtype=np.float32)
    return matrix[:, :skip], matrix[:, skip:]


def _tricky_rows(count: int, width: int, seed: int) -> str:
    """Label, weight and features with awkward values: missing cells, huge and tiny numbers,
    negative zero, integers and long decimals that round when narrowed to float32."""
    rng = np.random.default_rng(seed)
    specials = ["", "-0", "1e30", "-3.4e38", "1e-40", "0.1", "123456789", "2.718281828459045"]
    lines = []
    for i in range(count):
        row = [str(i % 3), f"{rng.random():.17g}"]
        for _ in range(width):
            pick = rng.random()
            if pick < 0.15:
                row.append(specials[int(rng.integers(len(specials)))])
            else:
                row.append(f"{rng.standard_normal() * 10 ** int(rng.integers(-5, 6)):.12g}")
        lines.append(",".join(row))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("block", [256, 1000, 1 << 20])
def test_many_blocks_match_a_cell_by_cell_parse(tmp_path, monkeypatch, block) -> None:
    monkeypatch.setattr(csv_format, "_BLOCK", block)
    text = _tricky_rows(500, 7, seed=block)
    (tmp_path / "a.csv").write_text(text)
    channel = ChannelData("train", "text/csv", files=[tmp_path])
    leading, features = _reference(text, 2)

    data = read_dataset(channel, csv_weights=True)
    np.testing.assert_array_equal(data.features, features)
    np.testing.assert_array_equal(data.labels, leading[:, 0])
    np.testing.assert_array_equal(data.weights, leading[:, 1])
    assert data.features.flags.c_contiguous and data.labels.flags.c_contiguous
    assert data.weights.flags.c_contiguous and data.features.dtype == np.float32

    batches = list(iter_batches(channel, 77, csv_weights=True))
    np.testing.assert_array_equal(np.concatenate([b.features for b in batches]), features)
    np.testing.assert_array_equal(np.concatenate([b.weights for b in batches]), leading[:, 1])


def test_several_label_columns_across_blocks(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(csv_format, "_BLOCK", 256)
    text = _tricky_rows(200, 3, seed=1)
    (tmp_path / "a.csv").write_text(text)
    channel = ChannelData("train", "text/csv;label_size=2", files=[tmp_path])
    leading, features = _reference(text, 2)
    data = read_dataset(channel)
    np.testing.assert_array_equal(data.labels, leading)
    np.testing.assert_array_equal(data.features, features)
    assert data.labels.shape == (200, 2) and data.labels.flags.c_contiguous


def test_columns_chunked_differently_are_realigned() -> None:
    values = np.arange(40, dtype=np.float32).reshape(10, 4)
    columns = [
        pa.chunked_array([values[:3, 0], values[3:, 0]]),
        pa.chunked_array([values[:7, 1], values[7:, 1]]),
        pa.chunked_array([values[:, 2]]),
        pa.array(values[:, 3]),
    ]
    data = csv_format._to_dataset(columns, 1, ReadOptions(), "test")
    np.testing.assert_array_equal(data.labels, values[:, 0])
    np.testing.assert_array_equal(data.features, values[:, 1:])


def test_null_cells_in_any_block_are_nan() -> None:
    columns = [
        pa.chunked_array([pa.array([1.0, None], pa.float32()), pa.array([0.0], pa.float32())]),
        pa.chunked_array([pa.array([None, 2.0], pa.float32()), pa.array([None], pa.float32())]),
    ]
    data = csv_format._to_dataset(columns, 1, ReadOptions(), "test")
    assert np.isnan(data.labels[1]) and data.labels[0] == 1.0
    assert np.isnan(data.features[0, 0]) and np.isnan(data.features[2, 0])
    assert data.features[1, 0] == 2.0
