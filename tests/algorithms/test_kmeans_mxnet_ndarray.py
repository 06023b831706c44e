"""The MXNet NDArray file tule writes for K-Means and PCA models is byte-for-byte what
`mx.ndarray.save` writes (specs/algorithms.md Appendix A), and files MXNet writes load back."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tule.algorithms import mxnet_ndarray


def _array_v2(values: np.ndarray, flag: int) -> bytes:
    head = struct.pack("<Ii", 0xF993FAC9, 0)  # V2 magic, dense storage
    shape = struct.pack("<I", values.ndim) + struct.pack(f"<{values.ndim}q", *values.shape)
    context_and_type = struct.pack("<iii", 1, 0, flag)  # cpu(0), dtype flag
    return head + shape + context_and_type + values.tobytes()


def test_a_list_of_one_float32_matrix_is_written_byte_for_byte() -> None:
    centroids = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
    expected = (
        struct.pack("<QQQ", 0x112, 0, 1)
        + _array_v2(centroids, 0)
        + struct.pack("<Q", 0)  # a list: no names
    )
    assert mxnet_ndarray.dumps([centroids]) == expected
    assert len(expected) == 24 + 8 + 4 + 16 + 12 + 24 + 8


def test_a_dict_carries_its_names_after_the_arrays() -> None:
    s = np.array([1.5, 2.5], dtype=np.float32)
    v = np.eye(2, dtype=np.float64)
    expected = (
        struct.pack("<QQQ", 0x112, 0, 2)
        + _array_v2(s, 0)
        + _array_v2(v, 1)
        + struct.pack("<Q", 2)
        + struct.pack("<Q", 1)
        + b"s"
        + struct.pack("<Q", 1)
        + b"v"
    )
    data = mxnet_ndarray.dumps({"s": s, "v": v})
    assert data == expected
    loaded = mxnet_ndarray.loads(data)
    assert isinstance(loaded, dict) and list(loaded) == ["s", "v"]
    np.testing.assert_array_equal(loaded["v"], v)
    assert loaded["v"].dtype == np.float64


@pytest.mark.parametrize(
    "dtype", ["float32", "float64", "float16", "uint8", "int32", "int8", "int64"]
)
def test_every_mxnet_dtype_round_trips(dtype: str, tmp_path: Path) -> None:
    values = (np.arange(24).reshape(2, 3, 4) % 100).astype(dtype)
    mxnet_ndarray.save(tmp_path / "f", [values])
    (loaded,) = mxnet_ndarray.load(tmp_path / "f")
    assert loaded.dtype == values.dtype
    np.testing.assert_array_equal(loaded, values)


def test_v1_and_legacy_layouts_written_by_older_mxnet_load() -> None:
    values = np.array([[7.0, 8.0]], dtype=np.float32)
    v1 = (
        struct.pack("<QQQ", 0x112, 0, 1)
        + struct.pack("<I", 0xF993FAC8)
        + struct.pack("<I2q", 2, 1, 2)
        + struct.pack("<iii", 1, 0, 0)
        + values.tobytes()
        + struct.pack("<Q", 0)
    )
    legacy = (  # before version magics: uint32 ndim, uint32 dimensions
        struct.pack("<QQQ", 0x112, 0, 1)
        + struct.pack("<I2I", 2, 1, 2)
        + struct.pack("<iii", 1, 0, 0)
        + values.tobytes()
        + struct.pack("<Q", 0)
    )
    for data in (v1, legacy):
        (loaded,) = mxnet_ndarray.loads(data)
        np.testing.assert_array_equal(loaded, values)


def test_bad_files_fail_with_a_readable_reason() -> None:
    good = mxnet_ndarray.dumps([np.ones((2, 2), dtype=np.float32)])
    with pytest.raises(mxnet_ndarray.NDArrayFormatError, match="not an MXNet NDArray file"):
        mxnet_ndarray.loads(b"PK\x03\x04" + good)
    with pytest.raises(mxnet_ndarray.NDArrayFormatError, match="truncated"):
        mxnet_ndarray.loads(good[:-12])
    sparse = bytearray(good)
    sparse[28:32] = struct.pack("<i", 2)  # storage type csr
    with pytest.raises(mxnet_ndarray.NDArrayFormatError, match="sparse"):
        mxnet_ndarray.loads(bytes(sparse))
