"""`application/x-recordio-protobuf`: RecordIO framing around `aialgs.data.Record` messages.

Byte-compatible with the SageMaker SDK (`write_numpy_to_dense_tensor`,
`write_spmatrix_to_sparse_tensor`, `RecordSerializer`/`RecordDeserializer`; specs §R):

* framing (`recordio`): magic, length, payload, padding; written like the SDK, read like dmlc;
* one Record per row, features in `features["values"]`, a label in `label["values"]`;
  inference responses put each output in `label[<key>]` as a Float32Tensor.

Reading has a fast path for the common case of dense fixed-width rows (SDK-written float32 /
float64 data): every frame then has the same length and layout, so a block of frames is viewed
as a 2-D byte matrix, checked against the first record's bytes outside the value regions, and
the values are sliced out with numpy. Anything else is decoded record by record.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import BinaryIO

import numpy as np
import scipy.sparse as sp

from tule.algorithms.base import DataError
from tule.algorithms.formats.dataset import Dataset, ReadOptions, concat
from tule.algorithms.formats.protobuf_wire import (
    Record,
    Tensor,
    WireError,
    decode_record,
    encode_entry,
    encode_record,
    encode_tensor_body,
)
from tule.algorithms.formats.recordio import (
    BLOCK,
    LENGTH_MASK,
    MAGIC,
    frame,
    iter_payloads,
    split_frames,
)
from tule.algorithms.formats.sources import Source

__all__ = [
    "MAGIC",
    "Record",
    "Tensor",
    "decode",
    "encode_outputs",
    "frame",
    "iter_chunks",
    "iter_payloads",
    "read",
    "read_records",
    "write_dense",
    "write_sparse",
]


def read_records(data: bytes | BinaryIO) -> list[Record]:
    """All Records in a body or stream (the counterpart of the SDK's `read_records`)."""
    if isinstance(data, bytes | bytearray | memoryview):
        payloads, _ = split_frames(bytes(data), final=True)
    else:
        payloads = list(iter_payloads(data))
    try:
        return [decode_record(p) for p in payloads]
    except WireError as exc:
        raise DataError(f"Invalid Record protobuf: {exc}") from None


# ------------------------------------------------------------------------------- reading


def _fixed_layout(record: Record) -> tuple[tuple[int, int], tuple[int, int] | None] | None:
    """Value spans of a record eligible for the uniform fast path, else None."""
    if set(record.features) != {"values"} or set(record.label) - {"values"}:
        return None
    if record.configuration is not None:
        return None
    features = record.features["values"]
    if features.keys is not None or features.values_span is None or not features.values.size:
        return None
    label_span = None
    if record.label:
        label = record.label["values"]
        if label.keys is not None or label.values_span is None:
            return None
        label_span = label.values_span
    return features.values_span, label_span


def _uniform_prefix(buf: memoryview, opts: ReadOptions) -> tuple[Dataset, int] | None:
    """Dense fixed-width rows at the start of `buf`, read as one 2-D slice (see module doc)."""
    if len(buf) < 16:
        return None
    magic, word = struct.unpack_from("<II", buf, 0)
    if magic != MAGIC or word >> 29:
        return None
    length = word & LENGTH_MASK
    stride = 8 + length + (4 - length % 4) % 4
    count = len(buf) // stride
    if count < 2:
        return None
    try:
        first = decode_record(bytes(buf[8 : 8 + length]))
    except WireError:
        return None
    layout = _fixed_layout(first)
    if layout is None:
        return None
    (fs, fe), label_span = layout
    matrix = np.frombuffer(buf, dtype=np.uint8, count=count * stride).reshape(count, stride)
    holes = sorted(
        [(8 + fs, 8 + fe)] + ([(8 + label_span[0], 8 + label_span[1])] if label_span else [])
    )
    fixed_ranges, cursor = [], 0
    for start, stop in holes:
        fixed_ranges.append((cursor, start))
        cursor = stop
    fixed_ranges.append((cursor, stride))
    same = np.ones(count, dtype=bool)
    for start, stop in fixed_ranges:
        if stop > start:
            same &= (matrix[:, start:stop] == matrix[0, start:stop]).all(axis=1)
    rows = count if same.all() else int(np.argmin(same))
    if rows < 1:
        return None
    kind = first.features["values"].kind
    features = matrix[:rows, 8 + fs : 8 + fe].copy().view("<f4" if kind == "float32" else "<f8")
    labels = None
    if label_span:
        label_kind = first.label["values"].kind
        labels = matrix[:rows, 8 + label_span[0] : 8 + label_span[1]].copy()
        labels = labels.view("<f4" if label_kind == "float32" else "<f8")
        if labels.shape[1] == 1:
            labels = labels[:, 0]
    return Dataset(features, labels), rows * stride


def _width(tensor: Tensor, opts: ReadOptions, index: int, where: str) -> int:
    if tensor.shape:
        return int(np.prod(tensor.shape))
    if opts.feature_dim is not None:
        return opts.feature_dim
    raise DataError(
        f"Sparse record {index} in {where} of channel '{opts.channel}' has no shape and "
        "feature_dim is not known."
    )


def _records_to_dataset(records: Sequence[Record], opts: ReadOptions, where: str) -> Dataset:
    import json

    tensors = []
    for i, record in enumerate(records):
        tensor = record.features.get("values")
        if tensor is None:
            raise DataError(
                f"Record {i} in {where} of channel '{opts.channel}' has no features['values'] "
                "tensor."
            )
        tensors.append(tensor)
    if any(t.keys is not None for t in tensors):
        widths = {
            _width(t, opts, i, where) if t.keys is not None else t.values.size
            for i, t in enumerate(tensors)
        }
        width = max(widths)
        indptr = np.zeros(len(tensors) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([t.values.size for t in tensors])
        indices = np.concatenate(
            [t.keys if t.keys is not None else np.arange(t.values.size) for t in tensors]
        ).astype(np.int64)
        if indices.size and (indices.max() >= width):
            raise DataError(
                f"Sparse feature index {int(indices.max())} in {where} of channel "
                f"'{opts.channel}' is out of range for {width} features."
            )
        data = np.concatenate([t.values for t in tensors])
        features = sp.csr_matrix((data, indices, indptr), shape=(len(tensors), width))
    else:
        sizes = {t.values.size for t in tensors}
        if len(sizes) > 1:
            raise DataError(
                f"Records in {where} of channel '{opts.channel}' have different numbers of "
                f"features: {sorted(sizes)}."
            )
        features = np.stack([t.values for t in tensors]) if tensors else np.zeros((0, 0))
    labels = None
    has_label = [("values" in r.label) for r in records]
    if any(has_label):
        if not all(has_label):
            raise DataError(f"Some records in {where} of channel '{opts.channel}' have no label.")
        values = [r.label["values"].values for r in records]
        labels = np.stack(values) if len({v.size for v in values}) == 1 else None
        if labels is None:
            raise DataError(f"Records in {where} have labels of different sizes.")
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
    configuration = None
    if any(r.configuration for r in records):
        configuration = [json.loads(r.configuration) if r.configuration else {} for r in records]
    return Dataset(features, labels, None, configuration)


def _finish(dataset: Dataset, opts: ReadOptions, where: str) -> Dataset:
    width = dataset.num_features
    if opts.feature_dim is not None and width != opts.feature_dim:
        # SageMaker's own reader fails with MXNet's "cannot copy sequence with size 785 to
        # array axis with dimension 784"; we say the same thing in words.
        raise DataError(
            f"Number of features in {where} of channel '{opts.channel}' ({width}) does not "
            f"match feature_dim={opts.feature_dim}: cannot copy sequence with size {width} to "
            f"array axis with dimension {opts.feature_dim}."
        )
    dtype = np.dtype(opts.dtype)
    features = dataset.features.astype(dtype, copy=False)
    labels = dataset.labels.astype(dtype, copy=False) if dataset.labels is not None else None
    return Dataset(features, labels, None, dataset.configuration)


def _datasets_in(buf: bytes, opts: ReadOptions, where: str, final: bool):
    """Datasets for the complete records in `buf`, and how many bytes they used."""
    view = memoryview(buf)
    pos = 0
    out: list[Dataset] = []
    while pos < len(buf):
        fast = _uniform_prefix(view[pos:], opts)
        if fast is not None:
            dataset, used = fast
            out.append(_finish(dataset, opts, where))
            pos += used
            continue
        payloads, used = split_frames(buf[pos:], final=final)
        if payloads:
            try:
                records = [decode_record(p) for p in payloads]
            except WireError as exc:
                raise DataError(
                    f"Unable to read data channel '{opts.channel}': invalid Record protobuf in "
                    f"{where} ({exc}). Please verify the data matches the requested "
                    "content-type 'application/x-recordio-protobuf'."
                ) from None
            out.append(_finish(_records_to_dataset(records, opts, where), opts, where))
        pos += used
        break
    return out, pos


def iter_chunks(source: Source, opts: ReadOptions, **_: object) -> Iterator[Dataset]:
    with source.open() as stream:
        rest = b""
        while True:
            block = stream.read(BLOCK)
            buf = rest + block if rest else block
            datasets, used = _datasets_in(buf, opts, source.name, final=not block)
            yield from (d for d in datasets if d.num_rows)
            rest = buf[used:]
            if not block:
                return


def read(source: Source, opts: ReadOptions, **_: object) -> Dataset | None:
    parts = list(iter_chunks(source, opts))
    return concat(parts, sparse_width=opts.feature_dim) if parts else None


def decode(body: bytes, opts: ReadOptions) -> Dataset:
    datasets, _ = _datasets_in(bytes(body), opts, "request body", final=True)
    datasets = [d for d in datasets if d.num_rows]
    if not datasets:
        return Dataset(np.zeros((0, opts.feature_dim or 0), dtype=np.dtype(opts.dtype)))
    return concat(datasets, sparse_width=opts.feature_dim if datasets[0].is_sparse else None)


# ------------------------------------------------------------------------------- writing


def _kind(dtype: np.dtype) -> str:
    """The SDK's `_resolve_type`: numpy's default int -> Int32, float64, float32; else error."""
    if dtype == np.dtype(int):
        return "int32"
    if dtype == np.dtype(float):
        return "float64"
    if dtype == np.dtype("float32"):
        return "float32"
    raise ValueError(f"Unsupported dtype {dtype} on array")


def _check_labels(array_shape: tuple[int, ...], labels: np.ndarray | None) -> str | None:
    if labels is None:
        return None
    if labels.ndim != 1:
        raise ValueError("Labels must be a Vector")
    if labels.shape[0] not in array_shape:
        raise ValueError(
            f"Label shape {labels.shape} not compatible with array shape {array_shape}"
        )
    return _kind(labels.dtype)


def _row_payload(kind, values, label_kind, label, keys=None, shape=None) -> bytes:
    features = [encode_entry("values", kind, encode_tensor_body(kind, values, keys, shape))]
    labels = []
    if label_kind is not None:
        labels.append(encode_entry("values", label_kind, encode_tensor_body(label_kind, [label])))
    return encode_record(features, labels)


def write_dense(stream: BinaryIO, array: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Same bytes as the SDK's `write_numpy_to_dense_tensor`."""
    if array.ndim != 2:
        raise ValueError("Array must be a Matrix")
    label_kind = _check_labels(array.shape, labels)
    kind = _kind(array.dtype)
    rows, cols = array.shape
    if rows == 0:
        return
    fixed = kind != "int32" and label_kind != "int32" and cols > 0
    if not fixed or rows < 4:
        for i in range(rows):
            stream.write(
                frame(
                    _row_payload(kind, array[i], label_kind, None if labels is None else labels[i])
                )
            )
        return
    # Every row has the same layout: encode row 0, then overwrite the value bytes of a tiled copy.
    first = frame(_row_payload(kind, array[0], label_kind, None if labels is None else labels[0]))
    record = decode_record(first[8 : 8 + struct.unpack_from("<I", first, 4)[0]])
    fs, fe = record.features["values"].values_span  # type: ignore[misc]
    out = np.tile(np.frombuffer(first, dtype=np.uint8), (rows, 1))
    out[:, 8 + fs : 8 + fe] = np.ascontiguousarray(
        array, dtype="<f4" if kind == "float32" else "<f8"
    ).view(np.uint8)
    if labels is not None:
        ls, le = record.label["values"].values_span  # type: ignore[misc]
        column = np.ascontiguousarray(labels, dtype="<f4" if label_kind == "float32" else "<f8")
        out[:, 8 + ls : 8 + le] = column.reshape(rows, 1).view(np.uint8)
    stream.write(out.tobytes())


def write_sparse(stream: BinaryIO, matrix, labels: np.ndarray | None = None) -> None:
    """Same bytes as the SDK's `write_spmatrix_to_sparse_tensor`."""
    if not sp.issparse(matrix):
        raise TypeError("Array must be sparse")
    if len(matrix.shape) != 2:
        raise ValueError("Array must be a Matrix")
    label_kind = _check_labels(matrix.shape, labels)
    kind = _kind(matrix.dtype)
    csr = sp.csr_matrix(matrix)
    rows, cols = csr.shape
    for i in range(rows):
        start, stop = csr.indptr[i], csr.indptr[i + 1]
        payload = _row_payload(
            kind,
            csr.data[start:stop],
            label_kind,
            None if labels is None else labels[i],
            keys=csr.indices[start:stop].astype(np.uint64),
            shape=[cols],
        )
        stream.write(frame(payload))


def encode_outputs(outputs: Mapping[str, np.ndarray]) -> bytes:
    """An inference response: one Record per row, each output key in `label` as a
    Float32Tensor (a scalar output is a one-element tensor), `features` empty (§R.5)."""
    keys = list(outputs)
    if not keys:
        return b""
    arrays = [np.asarray(outputs[k], dtype=np.float32) for k in keys]
    rows = len(arrays[0])
    out = []
    for i in range(rows):
        entries = [
            encode_entry(k, "float32", encode_tensor_body("float32", np.ravel(a[i])))
            for k, a in zip(keys, arrays, strict=True)
        ]
        out.append(frame(encode_record([], entries)))
    return b"".join(out)
