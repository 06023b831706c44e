"""MXNet's NDArray list file: what `mx.ndarray.save` writes and `mx.ndarray.load` reads.

The IM-family containers store K-Means centroids and PCA's `s`/`v`/`mean` in `model_algo-1`
in this format, and AWS's "bring your own K-Means model" notebook builds that file with
`mx.ndarray.save('model_algo-1', [centroids])` and hosts it on the `kmeans` image
(specs/algorithms.md §0.5, Appendix A). Writing the same bytes lets a tule model be opened with
MXNet, and reading them lets tule host a model built with MXNet, without depending on MXNet.

Layout (little-endian throughout):

* uint64 magic 0x112, uint64 reserved 0, uint64 number of arrays N;
* N arrays, each: uint32 version magic (V2 0xF993FAC9 is what `save` writes; V1 0xF993FAC8
  has no storage type; V3 0xF993FACA is MXNet 1.6+'s numpy-shape variant), int32 storage type
  (V2/V3; 0 = dense), shape (uint32 ndim, then ndim int64 dimensions; V2 ndim 0 = an empty
  array and nothing follows), context (int32 device type, int32 device id), int32 dtype flag,
  then the raw row-major data;
* uint64 number of names M (0 for a list, N for a dict), then M strings (uint64 length +
  bytes).

Only dense arrays are supported; a sparse array (storage type 1 row_sparse, 2 csr) is refused
with a readable error.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

FILE_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA
CPU = 1  # mshadow's device type for cpu()

# MXNet's dtype flags (mshadow::TypeFlag).
_DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("<f8"),
    2: np.dtype("<f2"),
    3: np.dtype("u1"),
    4: np.dtype("<i4"),
    5: np.dtype("i1"),
    6: np.dtype("<i8"),
}
_FLAGS = {dtype: flag for flag, dtype in _DTYPES.items()}


class NDArrayFormatError(ValueError):
    """Bytes that are not an MXNet NDArray file (or use a feature tule does not read)."""


def _flag(array: np.ndarray) -> int:
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    try:
        return _FLAGS[np.dtype(dtype)]
    except KeyError:
        raise NDArrayFormatError(f"MXNet NDArray files cannot hold dtype {array.dtype}") from None


def _write_array(out: BinaryIO, array: np.ndarray) -> None:
    flag = _flag(array)
    out.write(struct.pack("<Ii", V2_MAGIC, 0))  # V2 magic, dense storage
    out.write(struct.pack("<I", array.ndim))
    out.write(struct.pack(f"<{array.ndim}q", *array.shape))
    if array.ndim == 0:
        return  # V2: ndim 0 means "none" and nothing more is written
    out.write(struct.pack("<iii", CPU, 0, flag))
    out.write(np.ascontiguousarray(array, dtype=_DTYPES[flag]).tobytes())


def dumps(arrays: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> bytes:
    """The bytes `mx.ndarray.save` writes for a list or a dict of arrays."""
    if isinstance(arrays, Mapping):
        names, values = list(arrays), [np.asarray(a) for a in arrays.values()]
    else:
        names, values = [], [np.asarray(a) for a in arrays]
    out = io.BytesIO()
    out.write(struct.pack("<QQQ", FILE_MAGIC, 0, len(values)))
    for array in values:
        _write_array(out, array)
    out.write(struct.pack("<Q", len(names)))
    for name in names:
        encoded = name.encode("utf-8")
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
    return out.getvalue()


def save(path: Path | str, arrays: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> None:
    """Write an NDArray file (a list, or a dict whose keys become the names)."""
    Path(path).write_bytes(dumps(arrays))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def take(self, size: int) -> memoryview:
        if size < 0 or self.pos + size > len(self.data):
            raise NDArrayFormatError(
                f"truncated MXNet NDArray file: needed {size} bytes at offset {self.pos}"
            )
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))


def _read_shape(reader: _Reader, int64_dims: bool) -> tuple[int, ...] | None:
    """The dimensions, or None for "no array" (ndim 0 before V3, -1 in V3)."""
    (ndim,) = reader.unpack("<i")
    if ndim < 0:
        return None
    dims = reader.unpack(f"<{ndim}{'q' if int64_dims else 'I'}")
    return tuple(int(d) for d in dims)


def _read_array(reader: _Reader) -> np.ndarray:
    (magic,) = reader.unpack("<I")
    if magic in (V2_MAGIC, V3_MAGIC):
        (storage,) = reader.unpack("<i")
        if storage != 0:
            raise NDArrayFormatError(
                f"sparse NDArray (storage type {storage}) is not supported; save dense arrays"
            )
        shape = _read_shape(reader, int64_dims=True)
        # V3 (numpy semantics) writes ndim 0 for a scalar, whose data follows.
        if shape is None or (not shape and magic == V2_MAGIC):
            return np.zeros((0,), dtype=np.float32)
    elif magic == V1_MAGIC:
        shape = _read_shape(reader, int64_dims=True)
        if not shape:
            return np.zeros((0,), dtype=np.float32)
    else:
        # The legacy layout (before the version magic): the first uint32 is ndim and the
        # dimensions are uint32.
        reader.pos -= 4
        shape = _read_shape(reader, int64_dims=False)
        if not shape:
            return np.zeros((0,), dtype=np.float32)
    reader.unpack("<ii")  # context: device type and id (arrays are loaded on the CPU)
    (flag,) = reader.unpack("<i")
    if flag not in _DTYPES:
        raise NDArrayFormatError(f"unknown MXNet dtype flag {flag}")
    dtype = _DTYPES[flag]
    count = int(np.prod(shape)) if shape else 1
    raw = reader.take(count * dtype.itemsize)
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def loads(data: bytes) -> list[np.ndarray] | dict[str, np.ndarray]:
    """Arrays of an NDArray file: a list, or a dict when the file carries names."""
    reader = _Reader(bytes(data))
    magic, _reserved = reader.unpack("<QQ")
    if magic != FILE_MAGIC:
        raise NDArrayFormatError(
            f"not an MXNet NDArray file (magic {magic:#x}, expected {FILE_MAGIC:#x})"
        )
    (count,) = reader.unpack("<Q")
    if count > len(data):  # each array takes at least a few bytes: a corrupt count
        raise NDArrayFormatError(f"corrupt MXNet NDArray file: {count} arrays announced")
    arrays = [_read_array(reader) for _ in range(count)]
    (name_count,) = reader.unpack("<Q")
    if name_count == 0:
        return arrays
    if name_count != count:
        raise NDArrayFormatError(f"{name_count} names for {count} arrays")
    names = []
    for _ in range(name_count):
        (length,) = reader.unpack("<Q")
        names.append(bytes(reader.take(length)).decode("utf-8"))
    return dict(zip(names, arrays, strict=True))


def load(path: Path | str) -> list[np.ndarray] | dict[str, np.ndarray]:
    """Read an NDArray file written by MXNet or by `save`."""
    return loads(Path(path).read_bytes())
