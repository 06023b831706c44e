"""Records of a batch transform: splitting an input object, and the DataProcessing filters.

An input object is cut into records by `TransformInput.SplitType` (spec §5.2): `None` keeps the
whole object, `Line` cuts at newlines, `RecordIO` and `TFRecord` follow their binary framing.
Each record keeps two forms: its `body` (the bare record: what one SingleRecord request carries,
and what filters parse) and its `unit` (what a MultiRecord request concatenates). AWS removes a
binary record's framing only under SingleRecord and keeps it under MultiRecord, so for RecordIO
and TFRecord the unit is the whole frame; for Line it is the line itself, joined by newlines.

The DataProcessing filters (spec §5.4) treat a CSV record as a JSON array of its fields and a
JSON / JSON Lines record as the parsed document. `JoinSource=Input` joins the ORIGINAL record
with the model's output for it before the OutputFilter runs. `validate_request` holds the rules
CreateTransformJob enforces, so a bad configuration fails the call rather than the job.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from tule.algorithms.base import DataError
from tule.algorithms.formats import recordio
from tule.algorithms.formats.content_types import CSV, JSON, JSONLINES, canonical_content_type
from tule.services.sagemaker.jsonpath import JsonPath, JsonPathError, compiled

__all__ = [
    "RecordFormat",
    "SplitRecords",
    "TransformConfigError",
    "TransformDataError",
    "decompress",
    "filter_request",
    "join_and_filter",
    "record_format",
    "split_records",
    "validate_request",
]

RecordFormat = Literal["csv", "json"]

SAGEMAKER_INPUT = "SageMakerInput"
SAGEMAKER_OUTPUT = "SageMakerOutput"

_TFRECORD_HEADER = struct.Struct("<QI")
_TFRECORD_FOOTER = 4


class TransformConfigError(ValueError):
    """A CreateTransformJob request SageMaker refuses; str(e) is the ValidationException text."""


class TransformDataError(ValueError):
    """An object, record or model response the transform cannot process: the job fails."""


def record_format(content_type: str | None) -> RecordFormat | None:
    """How DataProcessing reads a content type: CSV rows, JSON documents, or opaque bytes."""
    mime, _ = canonical_content_type(content_type)
    if mime == CSV:
        return "csv"
    if mime in (JSON, JSONLINES):
        return "json"
    return None


# -- objects into records --------------------------------------------------------------------


def decompress(data: bytes, compression: str) -> bytes:
    """The object's bytes as the model should see them: SageMaker undoes `Gzip` itself."""
    if compression != "Gzip":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise TransformDataError(
            f"CompressionType is Gzip but the object is not gzip data: {exc}"
        ) from None


@dataclass(frozen=True)
class SplitRecords:
    """An object's records: bare bodies, the units a MultiRecord request joins with `separator`."""

    bodies: list[bytes]
    units: list[bytes]
    separator: bytes

    def __len__(self) -> int:
        return len(self.bodies)


def split_records(data: bytes, split_type: str) -> SplitRecords:
    """Cut an (already decompressed) object into records by SplitType.

    An empty object has no records (nothing is sent for it)."""
    if split_type in ("None", "", None):
        bodies = [data] if data else []
        return SplitRecords(bodies, bodies, b"")
    if split_type == "Line":
        lines = data.split(b"\n")
        if b"\r" in data:
            lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        # Empty lines (the one after a final newline included) are not records: the model's
        # readers skip them, and keeping them would break one-output-line-per-record alignment.
        bodies = [line for line in lines if line]
        return SplitRecords(bodies, bodies, b"\n")
    if split_type == "RecordIO":
        return _split_recordio(data)
    if split_type == "TFRecord":
        return _split_tfrecord(data)
    raise TransformDataError(
        f"SplitType {split_type!r} is not one of None, Line, RecordIO, TFRecord"
    )


def _split_recordio(data: bytes) -> SplitRecords:
    bodies: list[bytes] = []
    frames: list[bytes] = []
    size = len(data)
    pos = 0
    start: int | None = None  # where the current multi-part record began
    while pos < size:
        if pos + 8 > size:
            if data[pos:].strip(b"\0"):
                raise TransformDataError(f"truncated RecordIO header at byte {pos}")
            break
        magic, word = struct.unpack_from("<II", data, pos)
        if magic != recordio.MAGIC:
            raise TransformDataError(f"no RecordIO magic number at byte {pos}: not RecordIO data")
        length, cflag = word & recordio.LENGTH_MASK, word >> 29
        end = pos + 8 + length
        if end > size:
            raise TransformDataError(f"truncated RecordIO record at byte {pos}")
        # The last frame of an object may lack its padding; every other frame has it.
        frame_end = min(end + (4 - length % 4) % 4, size)
        if cflag == 0:
            bodies.append(data[pos + 8 : end])
            frames.append(data[pos:frame_end])
        elif cflag == 1:
            start = pos
        elif cflag in (2, 3) and start is not None:
            if cflag == 3:
                # A record the writer split in parts (MXNet/dmlc cflag 1, 2..., 3): the repo's
                # reader rejoins them, re-inserting the magic numbers the writer cut out.
                frame = data[start:frame_end]
                try:
                    joined, _ = recordio.split_frames(frame, final=True)
                except DataError as exc:
                    raise TransformDataError(str(exc)) from None
                bodies.extend(joined)
                frames.append(frame)
                start = None
        else:
            raise TransformDataError(f"unexpected RecordIO continuation flag {cflag} at byte {pos}")
        pos = frame_end
    if start is not None:
        raise TransformDataError(f"RecordIO record starting at byte {start} has no final part")
    return SplitRecords(bodies, frames, b"")


def _split_tfrecord(data: bytes) -> SplitRecords:
    # TFRecord frame: uint64 length, uint32 masked CRC32C of the length, the data, uint32
    # masked CRC32C of the data (all little-endian). CRCs are not verified: the framing alone
    # decides where records are, which is all splitting needs.
    bodies: list[bytes] = []
    frames: list[bytes] = []
    size = len(data)
    pos = 0
    while pos < size:
        if pos + _TFRECORD_HEADER.size > size:
            raise TransformDataError(f"truncated TFRecord header at byte {pos}")
        length, _ = _TFRECORD_HEADER.unpack_from(data, pos)
        start = pos + _TFRECORD_HEADER.size
        end = start + length + _TFRECORD_FOOTER
        if end > size:
            raise TransformDataError(f"truncated TFRecord record at byte {pos}")
        bodies.append(data[start : start + length])
        frames.append(data[pos:end])
        pos = end
    return SplitRecords(bodies, frames, b"")


# -- filters and join ------------------------------------------------------------------------


def filter_request(body: bytes, path: JsonPath, fmt: RecordFormat) -> bytes:
    """A record as sent to the model after InputFilter, written back in its own format."""
    if fmt == "csv":
        return csv_line(path.apply(parse_csv_row(body)))
    return dump_json(path.apply(parse_json(body, "input record")))


def join_and_filter(
    original: bytes,
    output: bytes,
    *,
    input_format: RecordFormat | None,
    output_format: RecordFormat | None,
    join: bool,
    output_filter: JsonPath,
) -> bytes:
    """One record's line of the `.out` object: the output, joined with the original input record
    when `join`, then narrowed by OutputFilter (spec §5.4)."""
    value: Any
    if join and input_format == "csv":
        # CSV join: the input row's fields followed by the output's fields, written as CSV.
        value = parse_csv_row(original) + _output_fields(output, output_format)
        fmt: RecordFormat = "csv"
    elif join:
        source = parse_json(original, "input record")
        result = _output_value(output)
        if isinstance(source, dict):
            if SAGEMAKER_OUTPUT in source:
                raise TransformDataError(
                    f"the input record already has a '{SAGEMAKER_OUTPUT}' key, which the join "
                    "with JoinSource=Input would overwrite"
                )
            value = {**source, SAGEMAKER_OUTPUT: result}
        else:
            # The joined JSON must be an object: a non-object input goes under SageMakerInput.
            value = {SAGEMAKER_INPUT: source, SAGEMAKER_OUTPUT: result}
        fmt = "json"
    elif output_format == "csv":
        value, fmt = parse_csv_row(output), "csv"
    else:
        value, fmt = parse_json(output, "model output"), "json"
    if not output_filter.is_root:
        value = output_filter.apply(value)
    return csv_line(value) if fmt == "csv" else dump_json(value)


def _output_fields(output: bytes, output_format: RecordFormat | None) -> list[Any]:
    """The fields a model's output adds to a joined CSV row."""
    if output_format != "json":
        return parse_csv_row(output)
    value = parse_json(output, "model output")
    return list(value) if isinstance(value, list) else [value]


def _output_value(output: bytes) -> Any:
    """SageMakerOutput of a JSON join: the output parsed as JSON when it is JSON (an algorithm's
    `{"predictions": ...}` or a bare number), else its text (a CSV answer such as `0.5,1`)."""
    text = _text(output, "model output").strip()
    try:
        return json.loads(text)
    except ValueError:
        return text


def _text(data: bytes, what: str) -> str:
    try:
        # A byte order mark can only open an object, so only its first record has one.
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise TransformDataError(f"the {what} is not UTF-8 text: {exc}") from None


def parse_csv_row(data: bytes) -> list[Any]:
    """One RFC 4180 row as its field strings; a record may not hold several rows."""
    text = _text(data, "CSV record").rstrip("\r\n")
    if '"' not in text and "\n" not in text and "\r" not in text:
        # Without quotes a row is its text split at commas: the csv module would agree, at a
        # fraction of the cost per record.
        return text.split(",") if text else []
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) > 1:
        raise TransformDataError(f"a CSV record holds {len(rows)} rows where one was expected")
    return list(rows[0]) if rows else []


def parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(_text(data, what))
    except ValueError as exc:
        raise TransformDataError(f"the {what} is not JSON: {exc}") from None


def csv_line(value: Any) -> bytes:
    """A selection written as one CSV line (no terminator): a list is a row, anything else one
    field; non-string fields are written as JSON (numbers as numbers, objects compactly)."""
    fields = value if isinstance(value, list) else [value]
    cells = [f if isinstance(f, str) else "" if f is None else _compact(f) for f in fields]
    line = ",".join(cells)
    # QUOTE_MINIMAL quotes a field holding a comma, a quote or a line end; when no field does
    # (no quote or line end at all, and only the joining commas), the plain join is the row.
    if (
        line
        and line.count(",") == len(cells) - 1
        and '"' not in line
        and "\n" not in line
        and "\r" not in line
    ):
        return line.encode()
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue().encode()


def dump_json(value: Any) -> bytes:
    return _compact(value).encode()


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- CreateTransformJob rules ----------------------------------------------------------------

_MAX_PAYLOAD_MB = 100
_DATA_PROCESSING_TYPES = (CSV, JSON, JSONLINES)


def uses_data_processing(request: dict[str, Any]) -> bool:
    """Whether DataProcessing changes anything: a filter other than `$`, or a join."""
    dp = request.get("DataProcessing") or {}
    return (
        (dp.get("InputFilter") or "$") != "$"
        or (dp.get("OutputFilter") or "$") != "$"
        or dp.get("JoinSource") == "Input"
    )


def validate_request(request: dict[str, Any]) -> None:
    """Raise TransformConfigError when CreateTransformJob must refuse `request`."""
    payload = request.get("MaxPayloadInMB")
    concurrency = request.get("MaxConcurrentTransforms")
    if payload is not None and payload > _MAX_PAYLOAD_MB:
        raise TransformConfigError(
            f"MaxPayloadInMB ({payload}) cannot be greater than {_MAX_PAYLOAD_MB} MB."
        )
    # AWS: "the value of (MaxConcurrentTransforms * MaxPayloadInMB) also cannot exceed 100 MB".
    # Checked when both are given; otherwise one of them comes from /execution-parameters later.
    if concurrency and payload and concurrency * payload > _MAX_PAYLOAD_MB:
        raise TransformConfigError(
            f"MaxConcurrentTransforms ({concurrency}) * MaxPayloadInMB ({payload}) = "
            f"{concurrency * payload} MB cannot exceed {_MAX_PAYLOAD_MB} MB."
        )
    dp = request.get("DataProcessing") or {}
    for member in ("InputFilter", "OutputFilter"):
        try:
            compiled(dp.get(member) or "$")
        except JsonPathError as exc:
            raise TransformConfigError(f"DataProcessing.{member} is invalid: {exc}") from None
    if not uses_data_processing(request):
        return
    source = request.get("TransformInput") or {}
    output = request.get("TransformOutput") or {}
    content_type = source.get("ContentType")
    accept = output.get("Accept")
    # An unset Accept means the output is read in the input's format (see transform_batches).
    for member, value in (("TransformInput.ContentType", content_type), ("Accept", accept)):
        if member == "Accept" and value is None:
            continue
        if canonical_content_type(value)[0] not in _DATA_PROCESSING_TYPES:
            raise TransformConfigError(
                f"{member} {value!r} is not supported with DataProcessing: use text/csv, "
                "application/json or application/jsonlines."
            )
    split_type = source.get("SplitType") or "None"
    if split_type in ("RecordIO", "TFRecord"):
        raise TransformConfigError(
            f"SplitType {split_type} cannot be used with DataProcessing, whose records are CSV "
            "or JSON text."
        )
    if record_format(content_type) == "csv":
        assemble_with = output.get("AssembleWith") or "None"
        if split_type != "Line" or assemble_with != "Line":
            raise TransformConfigError(
                "For CSV input with DataProcessing, TransformInput.SplitType and "
                f"TransformOutput.AssembleWith must be Line (got SplitType {split_type}, "
                f"AssembleWith {assemble_with})."
            )
