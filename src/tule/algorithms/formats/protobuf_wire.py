"""The `aialgs.data.Record` protobuf (specs/algorithms.md §R.2), encoded and decoded by hand.

Only the few wire rules the schema needs: varints, length-delimited fields, packed repeated
float/double/int32/uint64. Packed numbers are converted with numpy in one go (varints too), so
a dense row costs a handful of slicing operations rather than a loop per value. Field order when
writing follows protobuf's own serialiser (by field number), which is what makes our bytes equal
to the SageMaker SDK's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Value.oneof field numbers -> tensor kind, and back.
KIND_BY_FIELD = {2: "float32", 3: "float64", 7: "int32"}
FIELD_BY_KIND = {v: k for k, v in KIND_BY_FIELD.items()}
_PACKED_DTYPE = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8")}


class WireError(ValueError):
    """Bytes that are not a valid Record."""


@dataclass
class Tensor:
    """One Float32/Float64/Int32 tensor: dense when `keys` is None."""

    kind: str
    values: np.ndarray
    keys: np.ndarray | None = None
    shape: tuple[int, ...] | None = None
    # Offsets of the packed `values` bytes inside the record payload (fixed-width kinds only),
    # used by the uniform-layout fast path in recordio_protobuf.
    values_span: tuple[int, int] | None = None


@dataclass
class Record:
    features: dict[str, Tensor] = field(default_factory=dict)
    label: dict[str, Tensor] = field(default_factory=dict)
    uid: str | None = None
    metadata: str | None = None
    configuration: str | None = None


# ------------------------------------------------------------------------------- varints

_SMALL = 64  # below this many bytes/values a Python loop beats numpy's call overhead


def _varints_py(data: bytes) -> list[int]:
    out = []
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            out.append(value)
            value = shift = 0
        else:
            shift += 7
    if shift:
        raise WireError("truncated varint")
    return out


def decode_varints(data: bytes | memoryview) -> np.ndarray:
    """Every varint in `data` (a packed field), as uint64."""
    if len(data) <= _SMALL:
        return np.array(_varints_py(bytes(data)), dtype=np.uint64)
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw < 0x80)
    if ends.size == 0 or ends[-1] != raw.size - 1:
        raise WireError("truncated varint")
    if ends.size == raw.size:  # every value fits one byte: the common case for small keys
        return raw.astype(np.uint64)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    if lengths.max() > 10:
        raise WireError("varint longer than 10 bytes")
    position = np.arange(raw.size) - np.repeat(starts, lengths)
    parts = (raw & 0x7F).astype(np.uint64) << (7 * position).astype(np.uint64)
    return np.add.reduceat(parts, starts)


def encode_varints(values: np.ndarray) -> bytes:
    """Varints for non-negative uint64 values (negatives arrive as two's complement)."""
    v = np.asarray(values).astype(np.uint64, copy=False).ravel()
    if v.size <= _SMALL:
        # numpy's per-call overhead dominates for the few keys of a sparse row.
        return b"".join(_varint(int(x)) for x in v.tolist())
    if v.max() < 0x80:
        return v.astype(np.uint8).tobytes()
    counts = np.ones(v.size, dtype=np.int64)
    for k in range(1, 10):
        counts += v >= np.uint64(1 << (7 * k))
    starts = np.cumsum(counts) - counts
    position = np.arange(int(counts.sum())) - np.repeat(starts, counts)
    spread = np.repeat(v, counts) >> (7 * position).astype(np.uint64)
    more = position < np.repeat(counts, counts) - 1
    return (
        ((spread & np.uint64(0x7F)) | (more.astype(np.uint64) << np.uint64(7)))
        .astype(np.uint8)
        .tobytes()
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def _fields(buf: bytes, start: int, end: int):
    """(field number, wire type, value) for each field; value is an int or (start, stop)."""
    pos = start
    while pos < end:
        tag, pos = _read_varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            if pos + length > end:
                raise WireError("field runs past the end of its message")
            yield number, wire, (pos, pos + length)
            pos += length
        elif wire == 5:
            yield number, wire, (pos, pos + 4)
            pos += 4
        elif wire == 1:
            yield number, wire, (pos, pos + 8)
            pos += 8
        else:
            raise WireError(f"unsupported wire type {wire}")
    if pos != end:
        raise WireError("message overruns its length")


# ------------------------------------------------------------------------------- decoding


def _decode_tensor(buf: bytes, start: int, end: int, kind: str) -> Tensor:
    values: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    shape: list[np.ndarray] = []
    span: tuple[int, int] | None = None
    fixed = _PACKED_DTYPE.get(kind)
    for number, wire, value in _fields(buf, start, end):
        if number == 1:
            if wire == 2:  # packed
                s, e = value
                if fixed is not None:
                    values.append(
                        np.frombuffer(buf, dtype=fixed, count=(e - s) // fixed.itemsize, offset=s)
                    )
                    span = (s, e)
                else:
                    raw = decode_varints(memoryview(buf)[s:e])
                    values.append(raw.astype(np.int64).astype(np.int32))
            elif wire == 0:  # unpacked int32
                values.append(np.array([value], dtype=np.uint64).astype(np.int64).astype(np.int32))
            else:  # unpacked float/double
                s, e = value
                values.append(np.frombuffer(buf, dtype=fixed, count=1, offset=s))
        elif number in (2, 3):
            target = keys if number == 2 else shape
            if wire == 2:
                s, e = value
                target.append(decode_varints(memoryview(buf)[s:e]))
            else:
                target.append(np.array([value], dtype=np.uint64))
    dtype = fixed if fixed is not None else np.dtype(np.int32)
    joined = np.concatenate(values) if values else np.zeros(0, dtype=dtype)
    if len(values) != 1:
        span = None
    return Tensor(
        kind=kind,
        values=joined,
        keys=np.concatenate(keys) if keys else None,
        shape=tuple(int(s) for s in np.concatenate(shape)) if shape else None,
        values_span=span,
    )


def _decode_value(buf: bytes, start: int, end: int) -> Tensor:
    tensor: Tensor | None = None
    for number, wire, value in _fields(buf, start, end):
        if wire == 2 and number in KIND_BY_FIELD:
            tensor = _decode_tensor(buf, value[0], value[1], KIND_BY_FIELD[number])
        elif number == 9:
            raise WireError("Bytes values are not supported")
    if tensor is None:
        raise WireError("Value without a tensor")
    return tensor


def _decode_entry(buf: bytes, start: int, end: int) -> tuple[str, Tensor]:
    key = ""
    tensor: Tensor | None = None
    for number, wire, value in _fields(buf, start, end):
        if number == 1 and wire == 2:
            key = buf[value[0] : value[1]].decode("utf-8")
        elif number == 2 and wire == 2:
            tensor = _decode_value(buf, value[0], value[1])
    if tensor is None:
        raise WireError(f"map entry '{key}' without a value")
    return key, tensor


def decode_record(buf: bytes) -> Record:
    """Parse one Record payload. Offsets in `values_span` are relative to `buf`."""
    record = Record()
    for number, wire, value in _fields(buf, 0, len(buf)):
        if wire != 2:
            continue
        if number in (1, 2):
            key, tensor = _decode_entry(buf, value[0], value[1])
            (record.features if number == 1 else record.label)[key] = tensor
        elif number in (3, 4, 5):
            text = buf[value[0] : value[1]].decode("utf-8")
            setattr(record, {3: "uid", 4: "metadata", 5: "configuration"}[number], text)
    return record


# ------------------------------------------------------------------------------- encoding


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_tensor_body(
    kind: str, values: np.ndarray, keys: np.ndarray | None = None, shape=None
) -> bytes:
    """The Float32/Float64/Int32Tensor message bytes (packed fields, empty ones omitted)."""
    parts = []
    flat = np.asarray(values).ravel()
    if flat.size:
        if kind == "int32":
            # int32 negatives are sign-extended to 64 bits, hence 10-byte varints (§R.2).
            packed = encode_varints(flat.astype(np.int64).view(np.uint64))
        else:
            packed = flat.astype(_PACKED_DTYPE[kind], copy=False).tobytes()
        parts.append(_len_field(1, packed))
    if keys is not None and len(keys):
        parts.append(_len_field(2, encode_varints(np.asarray(keys, dtype=np.uint64))))
    if shape is not None and len(shape):
        parts.append(_len_field(3, encode_varints(np.asarray(shape, dtype=np.uint64))))
    return b"".join(parts)


def encode_entry(key: str, kind: str, tensor_body: bytes) -> bytes:
    value = _len_field(FIELD_BY_KIND[kind], tensor_body)
    return _len_field(1, key.encode("utf-8")) + _len_field(2, value)


def encode_record(
    features: list[bytes] = (),  # type: ignore[assignment]
    label: list[bytes] = (),  # type: ignore[assignment]
    configuration: str | None = None,
) -> bytes:
    """A Record from already-encoded map entries (see `encode_entry`)."""
    out = [_len_field(1, e) for e in features]
    out.extend(_len_field(2, e) for e in label)
    if configuration is not None:
        out.append(_len_field(5, configuration.encode("utf-8")))
    return b"".join(out)
