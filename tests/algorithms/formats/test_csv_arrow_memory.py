"""After a large CSV read the pages Arrow kept are handed back; the rows are unchanged."""

from __future__ import annotations

import numpy as np

from tule.algorithms.base import ChannelData
from tule.algorithms.formats import csv as csv_format
from tule.algorithms.formats import read_dataset


def _write(tmp_path, rows: int) -> ChannelData:
    values = np.random.default_rng(rows).standard_normal((rows, 5)).astype(np.float32)
    values[::7, 2] = np.nan
    text = "\n".join(
        ",".join("" if np.isnan(v) else f"{v:.9g}" for v in row) for row in values.tolist()
    )
    (tmp_path / "a.csv").write_text(text + "\n")
    return ChannelData("train", "text/csv", files=[tmp_path])


def _count_releases(monkeypatch) -> list[int]:
    calls: list[int] = []
    release = csv_format.release_arrow_memory
    monkeypatch.setattr(csv_format, "release_arrow_memory", lambda: (calls.append(1), release()))
    return calls


def test_large_read_releases_arrow_memory_and_keeps_every_value(tmp_path, monkeypatch) -> None:
    channel = _write(tmp_path, 2000)
    before = read_dataset(channel)
    calls = _count_releases(monkeypatch)
    monkeypatch.setattr(csv_format, "_RELEASE_AFTER", 1000)  # this table counts as large

    after = read_dataset(channel)

    assert calls == [1]
    np.testing.assert_array_equal(after.features, before.features)
    np.testing.assert_array_equal(after.labels, before.labels)
    assert np.isnan(after.features[::7, 1]).all()


def test_small_read_leaves_arrow_memory_alone(tmp_path, monkeypatch) -> None:
    calls = _count_releases(monkeypatch)
    data = read_dataset(_write(tmp_path, 50))
    assert calls == [] and data.features.shape == (50, 4)
