"""Mini-batches of a batch transform: from one input object's bytes to its `.out` object's bytes.

`transform_object` runs spec §5.2 steps 2-7 for one object: decompress, split into records,
apply InputFilter, pack records into requests (BatchStrategy, MaxPayloadInMB), call the model
(up to MaxConcurrentTransforms requests in flight, answers kept in input order), split each
answer back into per-record outputs, join and OutputFilter, and assemble (AssembleWith). How the
model is called is not its business: it receives `invoke(payload) -> response body`.

Fast path: with InputFilter `$` records are sent as they are (never parsed), and without a join
or OutputFilter a response is written as it came, never split into records. Line records sent
MultiRecord that way are not even split: each request is a slice of the object
(`transform_lines`).

Splitting a MultiRecord response (only done for a join or an OutputFilter): one line per record,
in order [I]. When the output type is application/json and the response is one JSON document
holding exactly one list per record - a top-level array, or an object with a single key whose
value is such a list (the built-ins answer `{"predictions": [...]}`) - each record gets the
document it would have had alone: `[e]` or `{"predictions": [e]}`. A record's joined output is
then the same whether it was sent with SingleRecord or MultiRecord.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from tule.algorithms.formats.content_types import JSON, canonical_content_type
from tule.services.sagemaker.jsonpath import JsonPathError, compiled
from tule.services.sagemaker.transform_lines import OversizedRecord, line_spans, span_records
from tule.services.sagemaker.transform_records import (
    SplitRecords,
    TransformDataError,
    decompress,
    dump_json,
    filter_request,
    join_and_filter,
    record_format,
    split_records,
)

__all__ = [
    "DEFAULT_MAX_PAYLOAD_MB",
    "TransformObjectError",
    "TransformSettings",
    "assemble",
    "plan_batches",
    "split_response",
    "transform_object",
]

DEFAULT_MAX_PAYLOAD_MB = 6
_MIB = 1 << 20
# /execution-parameters spells strategies in the SAGEMAKER_BATCH_STRATEGY style.
_STRATEGIES = {
    "MULTI_RECORD": "MultiRecord",
    "SINGLE_RECORD": "SingleRecord",
    "MultiRecord": "MultiRecord",
    "SingleRecord": "SingleRecord",
}

Batch = tuple[int, int]  # records [start, end) of one request, 0-based


class TransformObjectError(Exception):
    """One input object failed; str(e) names the object and, when known, its records (1-based):
    `object s3://b/k, records 1-250: <reason>`."""

    def __init__(self, object_name: str, reason: str, batch: Batch | None = None) -> None:
        self.object_name = object_name
        self.reason = reason
        self.batch = batch
        if batch is None:
            where = ""
        elif batch[1] - batch[0] == 1:
            where = f", record {batch[0] + 1}"
        else:
            where = f", records {batch[0] + 1}-{batch[1]}"
        super().__init__(f"object {object_name}{where}: {reason}")


@dataclass(frozen=True)
class TransformSettings:
    """What one transform job does to each object, from its request and the container's
    /execution-parameters answer. `max_payload_bytes` None means unlimited (MaxPayloadInMB 0)."""

    content_type: str | None = None
    accept: str | None = None
    split_type: str = "None"
    compression: str = "None"
    batch_strategy: str = "MultiRecord"
    max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_MB * _MIB
    max_concurrent_transforms: int = 1
    input_filter: str = "$"
    output_filter: str = "$"
    join_source: str = "None"
    assemble_with: str = "None"

    @classmethod
    def from_request(
        cls, request: dict[str, Any], execution_parameters: dict[str, Any] | None = None
    ) -> TransformSettings:
        """Precedence (spec §5.3): the request's value, then the container's answer, then the
        defaults (1 request at a time, 6 MB, MultiRecord when records are split)."""
        source = request.get("TransformInput") or {}
        output = request.get("TransformOutput") or {}
        dp = request.get("DataProcessing") or {}
        params = execution_parameters or {}
        split_type = source.get("SplitType") or "None"

        # MaxConcurrentTransforms 0 means unset ("SageMaker checks the execution-parameters").
        concurrency = request.get("MaxConcurrentTransforms") or _int(
            params.get("MaxConcurrentTransforms"), minimum=1
        )
        # MaxPayloadInMB 0 is a value of its own: no limit (HTTP chunked encoding in AWS).
        payload_mb = request.get("MaxPayloadInMB")
        if payload_mb is None:
            payload_mb = _int(params.get("MaxPayloadInMB"), minimum=0)
        if payload_mb is None:
            payload_mb = DEFAULT_MAX_PAYLOAD_MB
        strategy = request.get("BatchStrategy") or _STRATEGIES.get(
            str(params.get("BatchStrategy") or "")
        )
        if strategy is None:
            strategy = "SingleRecord" if split_type == "None" else "MultiRecord"
        return cls(
            content_type=source.get("ContentType"),
            accept=output.get("Accept"),
            split_type=split_type,
            compression=source.get("CompressionType") or "None",
            batch_strategy=strategy,
            max_payload_bytes=payload_mb * _MIB if payload_mb else None,
            max_concurrent_transforms=concurrency or 1,
            input_filter=dp.get("InputFilter") or "$",
            output_filter=dp.get("OutputFilter") or "$",
            join_source=dp.get("JoinSource") or "None",
            assemble_with=output.get("AssembleWith") or "None",
        )

    @property
    def output_content_type(self) -> str | None:
        """The type outputs are read in: Accept, or the input's type when Accept is unset (the
        containers answer in the request's type by default)."""
        return self.accept or self.content_type

    @property
    def joins(self) -> bool:
        return self.join_source == "Input"

    @property
    def splits_responses(self) -> bool:
        """Whether responses must be cut into per-record outputs (join or OutputFilter)."""
        return self.joins or self.output_filter != "$"


def _int(value: Any, *, minimum: int) -> int | None:
    """An /execution-parameters number, or None when absent or not a usable integer."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= minimum else None


def transform_object(
    data: bytes,
    settings: TransformSettings,
    invoke: Callable[[bytes], bytes],
    *,
    object_name: str,
    max_concurrency: int | None = None,
) -> bytes:
    """The `.out` bytes of one input object. `invoke(payload)` returns the model's response body
    or raises; any failure raises TransformObjectError naming the object and records.
    `max_concurrency` overrides `settings.max_concurrent_transforms` (requests in flight)."""
    try:
        data = decompress(data, settings.compression)
    except TransformDataError as exc:
        raise TransformObjectError(object_name, str(exc)) from None
    concurrency = (
        max_concurrency if max_concurrency is not None else settings.max_concurrent_transforms
    )
    if _sliceable(settings):
        sliced = _transform_slices(data, settings, invoke, concurrency, object_name)
        if sliced is not None:
            return sliced
    try:
        records = split_records(data, settings.split_type)
    except TransformDataError as exc:
        raise TransformObjectError(object_name, str(exc)) from None
    sent = _filtered(records, settings, object_name)
    batches = plan_batches(
        sent, settings.batch_strategy, settings.max_payload_bytes, object_name=object_name
    )
    single = settings.batch_strategy == "SingleRecord"
    payloads = ((b, sent.bodies[b[0]] if single else _payload(sent, b)) for b in batches)
    outputs: list[bytes] = []
    for batch, response in _invoke_all(payloads, invoke, concurrency, object_name):
        if settings.splits_responses:
            outputs.extend(_process(records, batch, response, settings, object_name))
        else:
            outputs.append(response)
    return assemble(outputs, settings.assemble_with)


def _sliceable(settings: TransformSettings) -> bool:
    """Whether requests may be cut from the object's bytes (`transform_lines`): Line records
    sent as they are, MultiRecord, and responses written as they come."""
    return (
        settings.split_type == "Line"
        and settings.batch_strategy == "MultiRecord"
        and settings.input_filter == "$"
        and not settings.splits_responses
    )


def _transform_slices(
    data: bytes,
    settings: TransformSettings,
    invoke: Callable[[bytes], bytes],
    concurrency: int,
    object_name: str,
) -> bytes | None:
    """transform_object for `_sliceable` settings, or None when the object's lines need the
    general path (see `line_spans`). Failures name records, as the general path's do."""
    limit = settings.max_payload_bytes
    try:
        spans = line_spans(data, limit)
    except OversizedRecord as exc:
        assert limit is not None
        reason = _oversized(exc.length, limit)
        raise TransformObjectError(object_name, reason, (exc.index, exc.index + 1)) from None
    if spans is None:
        return None
    payloads = ((span, data[span[0] : span[1]]) for span in spans)
    try:
        outputs = [body for _, body in _invoke_all(payloads, invoke, concurrency, object_name)]
    except TransformObjectError as exc:
        if exc.batch is None:
            raise
        records = span_records(data, exc.batch)
        raise TransformObjectError(object_name, exc.reason, records) from exc.__cause__
    return assemble(outputs, settings.assemble_with)


def _oversized(length: int, limit: int) -> str:
    return f"the record is {length} bytes, more than MaxPayloadInMB allows ({limit} bytes)"


def _filtered(records: SplitRecords, settings: TransformSettings, name: str) -> SplitRecords:
    """The records as sent: untouched under InputFilter `$`, else filtered one by one."""
    try:
        path = compiled(settings.input_filter)
    except JsonPathError as exc:
        raise TransformObjectError(name, str(exc)) from None
    if path.is_root:
        return records
    fmt = record_format(settings.content_type)
    if fmt is None or settings.split_type in ("RecordIO", "TFRecord"):
        raise TransformObjectError(
            name, f"InputFilter {settings.input_filter} needs CSV or JSON records split by Line"
        )
    bodies = []
    for index, body in enumerate(records.bodies):
        try:
            bodies.append(filter_request(body, path, fmt))
        except (TransformDataError, JsonPathError) as exc:
            raise TransformObjectError(name, str(exc), (index, index + 1)) from None
    return SplitRecords(bodies, bodies, records.separator)


def plan_batches(
    records: SplitRecords, strategy: str, limit: int | None, *, object_name: str = "input"
) -> list[Batch]:
    """The requests for `records`: one per record (SingleRecord), or as many consecutive
    records as fit in `limit` bytes with their separators (MultiRecord). A record larger than
    the limit fails the object, as it does in AWS."""
    count = len(records)
    single = strategy == "SingleRecord"
    if limit is not None:
        for index, record in enumerate(records.bodies if single else records.units):
            if len(record) > limit:
                reason = _oversized(len(record), limit)
                raise TransformObjectError(object_name, reason, (index, index + 1))
    if single:
        return [(i, i + 1) for i in range(count)]
    if limit is None:
        return [(0, count)] if count else []
    sep = len(records.separator)
    # ends[j] - ends[i] - sep is the payload size of records [i, j): bisect finds the longest
    # run that fits, so packing costs a few C-level operations per request, not per record.
    ends = list(accumulate((len(u) + sep for u in records.units), initial=0))
    batches: list[Batch] = []
    start = 0
    while start < count:
        end = bisect_right(ends, ends[start] + limit + sep, lo=start + 1) - 1
        batches.append((start, end))
        start = end
    return batches


def _payload(records: SplitRecords, batch: Batch) -> bytes:
    start, end = batch
    if end - start == 1:
        return records.units[start]
    return records.separator.join(records.units[start:end])


def _invoke_all(
    payloads: Iterator[tuple[Batch, bytes]],
    invoke: Callable[[bytes], bytes],
    concurrency: int,
    object_name: str,
) -> Iterator[tuple[Batch, bytes]]:
    """(batch, response) in batch order, with up to `concurrency` requests in flight."""
    if concurrency <= 1:
        for batch, payload in payloads:
            yield batch, _call(invoke, payload, batch, object_name)
        return
    window: deque[tuple[Batch, Future[bytes]]] = deque()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="transform") as pool:
        try:
            for batch, payload in payloads:
                window.append((batch, pool.submit(_call, invoke, payload, batch, object_name)))
                # Keep a little more than `concurrency` queued so a worker never waits on us,
                # while payloads are built lazily rather than all at once.
                if len(window) > 2 * concurrency:
                    done, future = window.popleft()
                    yield done, future.result()
            while window:
                done, future = window.popleft()
                yield done, future.result()
        finally:
            # On a failure the rest is not sent: AWS does not write a partial `.out` object.
            for _, future in window:
                future.cancel()


def _call(invoke: Callable[[bytes], bytes], payload: bytes, batch: Batch, name: str) -> bytes:
    try:
        return invoke(payload)
    except Exception as exc:
        raise TransformObjectError(name, str(exc) or type(exc).__name__, batch) from exc


def _process(
    records: SplitRecords,
    batch: Batch,
    response: bytes,
    settings: TransformSettings,
    object_name: str,
) -> list[bytes]:
    """The `.out` lines of one request's records: its response split, joined, filtered."""
    start, end = batch
    try:
        outputs = split_response(response, end - start, settings.output_content_type)
    except TransformDataError as exc:
        raise TransformObjectError(object_name, str(exc), batch) from None
    input_format = record_format(settings.content_type)
    output_format = record_format(settings.output_content_type)
    output_filter = compiled(settings.output_filter)
    lines = []
    for index, output in enumerate(outputs, start=start):
        try:
            lines.append(
                join_and_filter(
                    records.bodies[index],
                    output,
                    input_format=input_format,
                    output_format=output_format,
                    join=settings.joins,
                    output_filter=output_filter,
                )
            )
        except (TransformDataError, JsonPathError) as exc:
            raise TransformObjectError(object_name, str(exc), (index, index + 1)) from None
    return lines


def split_response(body: bytes, count: int, content_type: str | None) -> list[bytes]:
    """A response to `count` records cut into one output per record (see the module notes)."""
    if count == 1:
        return [body]
    if canonical_content_type(content_type)[0] == JSON:
        split = _split_json_document(body, count)
        if split is not None:
            return split
    lines = body.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    if len(lines) != count:
        raise TransformDataError(
            f"the model answered {len(lines)} line(s) for {count} records; with MultiRecord, a "
            "join or an OutputFilter needs one output line per record, in order"
        )
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def _split_json_document(body: bytes, count: int) -> list[bytes] | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, list) and len(document) == count:
        return [dump_json([item]) for item in document]
    if isinstance(document, dict) and len(document) == 1:
        key, value = next(iter(document.items()))
        if isinstance(value, list) and len(value) == count:
            return [dump_json({key: [item]}) for item in value]
    return None


def assemble(outputs: list[bytes], assemble_with: str) -> bytes:
    """The `.out` object: AssembleWith Line ends every output with a newline (not doubling
    one the model wrote); None concatenates the outputs as they are."""
    if assemble_with != "Line":
        return b"".join(outputs)
    parts: list[bytes] = []
    for output in outputs:
        parts.append(output)
        if not output.endswith(b"\n"):
            parts.append(b"\n")
    return b"".join(parts)
