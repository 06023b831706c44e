"""text/csv channels and requests: label columns first, no header, readable failures."""

from __future__ import annotations

import gzip
import io
import os
import threading

import numpy as np
import pytest

from tule.algorithms.base import ChannelData, DataError
from tule.algorithms.formats import csv as csv_format
from tule.algorithms.formats import decode_request, iter_batches, read_dataset


def _channel(tmp_path, content_type="text/csv", **files: bytes) -> ChannelData:
    for name, data in files.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return ChannelData("train", content_type, files=[tmp_path])


def test_label_column_first_by_default(tmp_path) -> None:
    data = read_dataset(_channel(tmp_path, a=b"1,0.5,2\n0,1.5,3\n"))
    np.testing.assert_array_equal(data.labels, [1, 0])
    np.testing.assert_array_equal(data.features, [[0.5, 2], [1.5, 3]])
    assert data.features.dtype == np.float32 and data.features.flags.c_contiguous


def test_label_size_parameter_and_argument(tmp_path) -> None:
    channel = _channel(tmp_path, "text/csv; label_size=0", a=b"1,2\n3,4\n")
    unlabeled = read_dataset(channel)
    assert unlabeled.labels is None and unlabeled.features.shape == (2, 2)
    multi = read_dataset(_channel(tmp_path / "m", "text/csv;label_size=2", a=b"1,2,3\n4,5,6\n"))
    np.testing.assert_array_equal(multi.labels, [[1, 2], [4, 5]])
    np.testing.assert_array_equal(multi.features, [[3], [6]])


def test_csv_weights_take_the_column_after_the_label(tmp_path) -> None:
    data = read_dataset(_channel(tmp_path, a=b"1,0.25,7,8\n0,2,9,10\n"), csv_weights=True)
    np.testing.assert_array_equal(data.weights, [0.25, 2])
    np.testing.assert_array_equal(data.features, [[7, 8], [9, 10]])


def test_files_are_walked_recursively_skipping_hidden_and_underscore_names(tmp_path) -> None:
    channel = _channel(tmp_path, a=b"1,1\n", sub__b=b"2,2\n", _SUCCESS=b"x,y\n", sub___tmp=b"bad\n")
    (tmp_path / ".hidden").write_bytes(b"not,numbers\n")
    data = read_dataset(channel)
    np.testing.assert_array_equal(data.labels, [1, 2])


def test_gzip_by_suffix_magic_or_channel_compression(tmp_path) -> None:
    packed = gzip.compress(b"1,2\n3,4\n")
    for name in ("data.csv.gz", "data"):
        folder = tmp_path / name.replace(".", "_")
        np.testing.assert_array_equal(
            read_dataset(_channel(folder, **{name: packed})).features, [[2], [4]]
        )


def test_tab_delimiter_is_sniffed_and_empty_cells_are_missing(tmp_path) -> None:
    data = read_dataset(_channel(tmp_path, a=b"1\t\t3\n0\t4\t5\n"))
    assert np.isnan(data.features[0, 0]) and data.features[1, 0] == 4


def test_non_numeric_value_names_line_and_column(tmp_path) -> None:
    channel = _channel(tmp_path, a=b"1,2,3\n4,5,6\n7,abc,9\n")
    with pytest.raises(DataError) as info:
        read_dataset(channel)
    reason = info.value.reason
    assert "'abc'" in reason and "line 3, column 2" in reason and "channel 'train'" in reason
    assert info.value.failure_reason.startswith("ClientError: ")


def test_header_row_is_rejected_with_the_reason(tmp_path) -> None:
    with pytest.raises(DataError, match="line 1, column 1"):
        read_dataset(_channel(tmp_path, a=b"label,x1\n1,2\n"))


def test_wrong_column_count_names_the_line(tmp_path) -> None:
    with pytest.raises(DataError, match="Line 3 has 2 columns but line 1 has 3"):
        read_dataset(_channel(tmp_path, a=b"1,2,3\n4,5,6\n7,8\n"))


def test_files_with_different_widths_fail(tmp_path) -> None:
    with pytest.raises(DataError, match="number of columns"):
        read_dataset(_channel(tmp_path, a=b"1,2,3\n", b=b"1,2\n"))


def test_feature_dim_is_checked(tmp_path) -> None:
    with pytest.raises(DataError, match="feature_dim=3"):
        read_dataset(_channel(tmp_path, a=b"1,2,3\n"), feature_dim=3)


def test_empty_channel_is_a_data_error(tmp_path) -> None:
    with pytest.raises(DataError, match="No data"):
        read_dataset(_channel(tmp_path, a=b"\n"))


def test_batches_are_exact_and_span_files(tmp_path) -> None:
    rows = np.arange(50, dtype=np.float32).reshape(25, 2)
    first, second = io.BytesIO(), io.BytesIO()
    csv_format.write_training(first, rows[:10, 1:], rows[:10, 0])
    csv_format.write_training(second, rows[10:, 1:], rows[10:, 0])
    channel = _channel(tmp_path, a=first.getvalue(), b=second.getvalue())
    batches = list(iter_batches(channel, 7))
    assert [b.num_rows for b in batches] == [7, 7, 7, 4]
    np.testing.assert_array_equal(np.concatenate([b.labels for b in batches]), rows[:, 0])


def test_batches_report_bad_values_in_later_blocks(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(csv_format, "_BLOCK", 64)
    body = b"".join(b"1,2,3\n" for _ in range(40)) + b"1,2,oops\n"
    with pytest.raises(DataError, match="line 41, column 3"):
        list(iter_batches(_channel(tmp_path, a=body), 10))


def test_pipe_mode_reads_a_stream_each_epoch(tmp_path) -> None:
    opened = []

    def factory():
        opened.append(1)
        return io.BytesIO(gzip.compress(b"1,2\n0,3\n"))

    channel = ChannelData("train", "text/csv", stream_factory=factory)
    for _ in range(2):
        assert sum(b.num_rows for b in iter_batches(channel, 1)) == 2
    assert len(opened) == 2


def test_pipe_mode_from_a_fifo(tmp_path) -> None:
    """A FIFO can be opened once per epoch: the reader must peek and parse one stream."""
    fifo = tmp_path / "train_0"
    os.mkfifo(fifo)

    def writer() -> None:
        with open(fifo, "wb") as f:
            f.write(b"1,5\n" * 1000)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    channel = ChannelData("train", "text/csv", stream_factory=lambda: fifo.open("rb"))
    data = read_dataset(channel)
    thread.join(timeout=10)
    assert data.num_rows == 1000 and float(data.features.sum()) == 5000


def test_inference_csv_has_no_label_by_default() -> None:
    data = decode_request(b"1,2,3\n4,5,6\n", "text/csv")
    assert data.labels is None and data.features.shape == (2, 3)
    assert decode_request(b"1,2,3\n", "text/csv;label_size=1").labels.tolist() == [1]


def test_inference_csv_error_speaks_of_the_request() -> None:
    with pytest.raises(DataError, match=r"request body.*'x' in line 2, column 1"):
        decode_request(b"1,2\nx,3\n", "text/csv; charset=utf-8")


def test_csv_response_writer_one_line_per_row() -> None:
    body = csv_format.encode({"score": np.array([0.5, 0.25]), "p": np.array([[1, 2], [3, 4]])})
    assert body == b"0.5,1,2\n0.25,3,4\n"
