"""RecordIO-protobuf is byte-compatible with the SageMaker SDK, in both directions (specs §R)."""

from __future__ import annotations

import gzip
import io
import os
import struct

import numpy as np
import pytest
import scipy.sparse as sp

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
sdk = pytest.importorskip("sagemaker.amazon.common")

from tule.algorithms.base import ChannelData, DataError  # noqa: E402
from tule.algorithms.formats import decode_request, iter_batches, read_dataset  # noqa: E402
from tule.algorithms.formats import recordio_protobuf as rp  # noqa: E402

RECORDIO = "application/x-recordio-protobuf"
DTYPES = [np.float32, np.float64, np.int64]


def _sdk_dense(array, labels=None) -> bytes:
    buf = io.BytesIO()
    sdk.write_numpy_to_dense_tensor(buf, array, labels)
    return buf.getvalue()


def _sdk_sparse(matrix, labels=None) -> bytes:
    buf = io.BytesIO()
    sdk.write_spmatrix_to_sparse_tensor(buf, matrix, labels)
    return buf.getvalue()


def _ours(writer, array, labels=None) -> bytes:
    buf = io.BytesIO()
    writer(buf, array, labels)
    return buf.getvalue()


def _array(dtype, rows=9, cols=5, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(rows, cols)) * 100).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("label_dtype", [None, *DTYPES])
def test_dense_writer_bytes_equal_the_sdk(dtype, label_dtype) -> None:
    array = _array(dtype)
    labels = None if label_dtype is None else np.arange(9).astype(label_dtype) - 4
    assert _ours(rp.write_dense, array, labels) == _sdk_dense(array, labels)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_labels", [False, True])
def test_sparse_writer_bytes_equal_the_sdk(dtype, with_labels) -> None:
    matrix = sp.random(12, 40, density=0.1, random_state=3, format="csr") * 50
    matrix = matrix.astype(dtype).tolil()
    matrix[4] = 0  # an all-zero row carries only the shape
    matrix = matrix.tocsr()
    matrix.eliminate_zeros()
    labels = np.linspace(-1, 1, 12).astype(np.float32) if with_labels else None
    assert _ours(rp.write_sparse, matrix, labels) == _sdk_sparse(matrix, labels)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdk_reader_parses_our_records(dtype) -> None:
    array = _array(dtype, rows=4, cols=3)
    labels = np.array([1.0, 0.0, 1.0, 2.0], dtype=np.float64)
    records = sdk.read_records(io.BytesIO(_ours(rp.write_dense, array, labels)))
    kind = {np.float32: "float32_tensor", np.float64: "float64_tensor", np.int64: "int32_tensor"}
    for row, record in zip(array, records, strict=True):
        values = getattr(record.features["values"], kind[dtype]).values
        assert list(values) == pytest.approx(row.tolist(), rel=1e-6)
    assert [r.label["values"].float64_tensor.values[0] for r in records] == labels.tolist()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [False, True])
def test_we_read_what_the_sdk_writes(dtype, sparse, tmp_path) -> None:
    array = _array(dtype, rows=30, cols=6)
    array[array.astype(float) < 20] = 0
    labels = np.arange(30).astype(np.float32)
    body = _sdk_sparse(sp.csr_matrix(array), labels) if sparse else _sdk_dense(array, labels)
    (tmp_path / "part-0.pbr").write_bytes(body)
    data = read_dataset(ChannelData("train", RECORDIO, files=[tmp_path]), dtype=np.float64)
    assert data.is_sparse is sparse
    np.testing.assert_array_equal(data.dense_features(), array.astype(np.float64))
    np.testing.assert_array_equal(data.labels, labels)


def test_sdk_record_serializer_request_decodes_to_its_rows() -> None:
    from sagemaker.serializers import RecordSerializer

    rows = _array(np.float64, rows=3, cols=4)
    body = RecordSerializer().serialize(rows).read()
    data = decode_request(body, RECORDIO)
    assert data.labels is None
    np.testing.assert_allclose(data.features, rows.astype(np.float32))
    one = decode_request(RecordSerializer().serialize(rows[0]).read(), RECORDIO)
    assert one.features.shape == (1, 4)


def test_inference_outputs_read_by_the_sdk_record_deserializer() -> None:
    from sagemaker.deserializers import RecordDeserializer

    body = rp.encode_outputs(
        {"closest_cluster": np.array([2, 0]), "distance_to_cluster": np.array([1.5, 0.25])}
    )
    records = RecordDeserializer().deserialize(io.BytesIO(body), RECORDIO)
    assert [r.label["closest_cluster"].float32_tensor.values[0] for r in records] == [2.0, 0.0]
    assert [r.label["distance_to_cluster"].float32_tensor.values[0] for r in records] == [1.5, 0.25]
    assert all(len(r.features) == 0 for r in records)


def test_vector_outputs_become_multi_value_tensors() -> None:
    body = rp.encode_outputs({"projection": np.array([[1.0, 2.0], [3.0, 4.0]])})
    records = rp.read_records(body)
    assert [r.label["projection"].values.tolist() for r in records] == [[1, 2], [3, 4]]


# Worked examples of specs §R.4, byte for byte.
def test_spec_example_dense_float32_with_label() -> None:
    expected = bytes.fromhex(
        "0A23D7CE2C000000"
        "0A160A0676616C756573120C120A0A080000803F00000040"
        "12120A0676616C75657312081206 0A040000803F".replace(" ", "")
    )
    body = _ours(rp.write_dense, np.array([[1.0, 2.0]], np.float32), np.array([1.0], np.float32))
    assert body == expected


def test_spec_example_dense_float64_without_label() -> None:
    expected = bytes.fromhex(
        "0A23D7CE200000000A1E0A0676616C7565731214 1A120A10000000000000F03F0000000000000040".replace(
            " ", ""
        )
    )
    assert _ours(rp.write_dense, np.array([[1.0, 2.0]])) == expected


def test_spec_example_negative_int_is_a_ten_byte_varint() -> None:
    body = _ours(rp.write_dense, np.array([[1, -2]]), np.array([3]))
    assert b"\x3a" in body and bytes.fromhex("FEFFFFFFFFFFFFFFFF01") in body
    record = rp.read_records(body)[0]
    assert record.features["values"].values.tolist() == [1, -2]
    assert record.label["values"].kind == "int32"


def test_spec_example_sparse_rows_and_padding() -> None:
    matrix = sp.csr_matrix(np.array([[0, 0, 3.5, 0], [0, 0, 0, 0]], dtype=np.float32))
    body = _ours(rp.write_sparse, matrix, np.array([1.0, 0.0], np.float32))
    (n1,) = struct.unpack_from("<I", body, 4)
    assert n1 == 46
    assert bytes.fromhex("0A040000604012010 21A0104".replace(" ", "")) in body
    second = 8 + 46 + 2
    (n2,) = struct.unpack_from("<I", body, second + 4)
    assert n2 == 37 and len(body) == second + 8 + 37 + 3


def test_spec_example_single_value_has_no_padding() -> None:
    body = _ours(rp.write_dense, np.array([[1.0]], np.float32))
    assert struct.unpack_from("<I", body, 4)[0] == 20 and len(body) == 28


def test_multi_part_records_are_reassembled() -> None:
    """dmlc splits a payload where the magic appears 4-byte aligned (cflag 1/2/3)."""
    magic = struct.pack("<I", rp.MAGIC)
    payload = _ours(rp.write_dense, np.array([[1.0, 2.0]], np.float32))[8:]
    whole = payload[:8] + magic + payload[8:]  # pretend the magic sits inside the payload
    parts = [whole[:8], whole[12:]]

    def part(data: bytes, cflag: int) -> bytes:
        pad = (4 - len(data) % 4) % 4
        return magic + struct.pack("<I", len(data) | cflag << 29) + data + b"\0" * pad

    body = part(parts[0], 1) + part(parts[1], 3)
    assert list(rp.iter_payloads(io.BytesIO(body))) == [whole]


def test_a_channel_streams_in_batches_and_gzip_is_transparent(tmp_path) -> None:
    array = _array(np.float32, rows=1000, cols=4)
    labels = np.arange(1000, dtype=np.float32)
    (tmp_path / "a.pbr.gz").write_bytes(gzip.compress(_sdk_dense(array[:600], labels[:600])))
    (tmp_path / "b").write_bytes(gzip.compress(_sdk_dense(array[600:], labels[600:])))
    channel = ChannelData("train", RECORDIO, files=[tmp_path])
    batches = list(iter_batches(channel, 256))
    assert [b.num_rows for b in batches] == [256, 256, 256, 232]
    np.testing.assert_array_equal(np.concatenate([b.features for b in batches]), array)
    np.testing.assert_array_equal(np.concatenate([b.labels for b in batches]), labels)


def test_mixed_layouts_in_one_file_are_all_read(tmp_path) -> None:
    """The uniform fast path stops where the layout changes; the rest is still read."""
    dense = _sdk_dense(_array(np.float32, rows=5, cols=3), np.ones(5, np.float32))
    wider_label = _sdk_dense(_array(np.float32, rows=3, cols=3, seed=1), np.ones(3))
    data = decode_request(dense + wider_label + dense, RECORDIO)
    assert data.num_rows == 13 and data.labels is not None


def test_feature_dim_mismatch_is_a_data_error(tmp_path) -> None:
    (tmp_path / "x").write_bytes(_sdk_dense(_array(np.float32, cols=785)))
    with pytest.raises(DataError, match=r"785.*feature_dim=784"):
        read_dataset(ChannelData("train", RECORDIO, files=[tmp_path]), feature_dim=784)


def test_garbage_is_a_readable_data_error(tmp_path) -> None:
    (tmp_path / "x").write_bytes(b"label,feature\n1,2\n")
    with pytest.raises(DataError, match="RecordIO"):
        read_dataset(ChannelData("train", RECORDIO, files=[tmp_path]))
