"""text/libsvm and application/x-parquet channels, as XGBoost reads them."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp

from tule.algorithms.base import ChannelData, DataError
from tule.algorithms.formats import decode_request, iter_batches, read_dataset
from tule.algorithms.formats import libsvm as libsvm_format
from tule.algorithms.formats import parquet as parquet_format


def _channel(tmp_path, content_type: str, data: bytes, name: str = "part") -> ChannelData:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_bytes(data)
    return ChannelData("train", content_type, files=[tmp_path])


def test_libsvm_indices_are_columns_as_given(tmp_path) -> None:
    data = read_dataset(_channel(tmp_path, "text/libsvm", b"1 1:0.5 3:2\n0 0:2\n"))
    assert data.is_sparse
    np.testing.assert_array_equal(data.features.toarray(), [[0, 0.5, 0, 2], [2, 0, 0, 0]])
    np.testing.assert_array_equal(data.labels, [1, 0])
    assert data.weights is None


def test_libsvm_weights_comments_and_qid(tmp_path) -> None:
    body = b"1:0.5 2:1 # a comment\n\n0:2 qid:7 1:3\n"
    data = read_dataset(_channel(tmp_path, "text/x-libsvm", body))
    np.testing.assert_array_equal(data.labels, [1, 0])
    np.testing.assert_array_equal(data.weights, [0.5, 2])
    np.testing.assert_array_equal(data.features.toarray(), [[0, 0, 1], [0, 3, 0]])


def test_libsvm_feature_dim_widens_and_bounds(tmp_path) -> None:
    channel = _channel(tmp_path, "libsvm", b"1 2:1\n")
    assert read_dataset(channel, feature_dim=10).features.shape == (1, 10)
    with pytest.raises(DataError, match="out of range for feature_dim=2"):
        read_dataset(channel, feature_dim=2)


def test_libsvm_bad_token_names_the_line(tmp_path) -> None:
    with pytest.raises(DataError, match=r"Line 3 .*'2:x'"):
        read_dataset(_channel(tmp_path, "text/libsvm", b"1 1:0.5\n\n1 2:x\n"))


def test_libsvm_writer_round_trips_and_batches_stream(tmp_path) -> None:
    matrix = sp.random(50, 8, density=0.3, random_state=2, format="csr", dtype=np.float32)
    labels = np.arange(50, dtype=np.float32)
    buf = io.BytesIO()
    libsvm_format.write(buf, matrix, labels)
    channel = _channel(tmp_path, "text/libsvm", buf.getvalue())
    batches = list(iter_batches(channel, 20, feature_dim=8))
    assert [b.num_rows for b in batches] == [20, 20, 10]
    stacked = sp.vstack([b.features for b in batches]).toarray()
    np.testing.assert_allclose(stacked, matrix.toarray())


def test_libsvm_request_lines_may_start_with_a_feature() -> None:
    data = decode_request(b"1:0.5 3:2\n0 2:1\n", "text/libsvm")
    np.testing.assert_array_equal(data.features.toarray(), [[0, 0.5, 0, 2], [0, 0, 1, 0]])


def test_parquet_first_column_is_the_label(tmp_path) -> None:
    features = np.arange(12, dtype=np.float64).reshape(4, 3)
    buf = io.BytesIO()
    parquet_format.write(buf, features, np.array([1, 0, 1, 0]))
    channel = _channel(tmp_path, "application/x-parquet", buf.getvalue())
    data = read_dataset(channel)
    np.testing.assert_array_equal(data.labels, [1, 0, 1, 0])
    np.testing.assert_array_equal(data.features, features)
    assert [b.num_rows for b in iter_batches(channel, 3)] == [3, 1]


def test_parquet_from_a_pipe_and_feature_dim(tmp_path) -> None:
    buf = io.BytesIO()
    parquet_format.write(buf, np.ones((5, 2)), np.zeros(5))
    channel = ChannelData("train", "parquet", stream_factory=lambda: io.BytesIO(buf.getvalue()))
    assert read_dataset(channel).num_rows == 5
    with pytest.raises(DataError, match="feature_dim=3"):
        read_dataset(channel, feature_dim=3)


def test_not_parquet_is_a_data_error(tmp_path) -> None:
    with pytest.raises(DataError, match="Parquet"):
        read_dataset(_channel(tmp_path, "application/x-parquet", b"1,2,3\n"))
