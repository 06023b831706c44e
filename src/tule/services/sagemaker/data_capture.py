"""Endpoint data capture: sampled requests and responses written to S3 as JSON Lines
(specs/aws-apis.md §4.2 DataCaptureConfig, §4.4).

Each captured invocation is one line:
`{"captureData": {"endpointInput": {...}, "endpointOutput": {...}}, "eventMetadata":
{"eventId", "inferenceTime", "inferenceId"?}, "eventVersion": "0"}`, where each side is
`{observedContentType, mode: INPUT|OUTPUT, data, encoding: CSV|JSON|BASE64}` (CSV and JSON
content types — the defaults or CaptureContentTypeHeader's lists — are kept as text, anything
else base64). Lines are buffered per (endpoint, variant) and written every `FLUSH_INTERVAL_S`
as a new object under `<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/`, named
`<mm>-<ss>-<mmm>-<uuid>.jsonl` after the first captured request in it, as SageMaker names its
capture files.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tule.services.sagemaker.channels import parse_s3_uri

FLUSH_INTERVAL_S = 1.0
DEFAULT_CSV_TYPES = ("text/csv",)
DEFAULT_JSON_TYPES = ("application/json", "application/jsonlines")


def _encoding(content_type: str, capture: dict[str, Any]) -> str:
    headers = capture.get("CaptureContentTypeHeader") or {}
    base = content_type.split(";", 1)[0].strip().lower()
    csv_types = [t.lower() for t in headers.get("CsvContentTypes") or DEFAULT_CSV_TYPES]
    json_types = [t.lower() for t in headers.get("JsonContentTypes") or DEFAULT_JSON_TYPES]
    if base in csv_types:
        return "CSV"
    if base in json_types:
        return "JSON"
    return "BASE64"


def _side(body: bytes, content_type: str, mode: str, capture: dict[str, Any]) -> dict[str, Any]:
    encoding = _encoding(content_type, capture)
    if encoding != "BASE64":
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if encoding == "BASE64":
        data = base64.b64encode(body).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def capture_modes(capture: dict[str, Any]) -> tuple[bool, bool]:
    """Whether inputs and outputs are captured."""
    modes = {o.get("CaptureMode") for o in capture.get("CaptureOptions") or []}
    both = "InputAndOutput" in modes
    return both or "Input" in modes, both or "Output" in modes


@dataclass
class _Buffer:
    bucket: str
    prefix: str
    lines: list[str] = field(default_factory=list)
    first: float = 0.0


class DataCapture:
    """Buffers captured invocations and writes them to S3 on a flusher thread."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self._buffers: dict[tuple[str, str, str, str], _Buffer] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="data-capture", daemon=True)
        self._thread.start()

    def record(
        self,
        capture: dict[str, Any],
        where: tuple[str, str, str, str],
        request: tuple[bytes, str],
        response: tuple[bytes, str] | None,
        inference_id: str | None = None,
    ) -> None:
        """Capture one invocation of (account, region, endpoint, variant)."""
        with_input, with_output = capture_modes(capture)
        now = time.time()
        data: dict[str, Any] = {}
        if with_input:
            data["endpointInput"] = _side(request[0], request[1], "INPUT", capture)
        if with_output and response is not None:
            data["endpointOutput"] = _side(response[0], response[1], "OUTPUT", capture)
        if not data:
            return
        stamp = datetime.fromtimestamp(now, UTC)
        metadata = {
            "eventId": str(uuid.uuid4()),
            "inferenceTime": stamp.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{stamp.microsecond // 1000:03d}Z",
        }
        if inference_id:
            metadata["inferenceId"] = inference_id
        line = json.dumps(
            {"captureData": data, "eventMetadata": metadata, "eventVersion": "0"},
            separators=(",", ":"),
        )
        bucket, prefix = parse_s3_uri(capture["DestinationS3Uri"])
        with self._lock:
            buffer = self._buffers.get(where)
            if buffer is None:
                buffer = self._buffers[where] = _Buffer(bucket, prefix, first=now)
            buffer.lines.append(line)

    def flush(self) -> None:
        with self._lock:
            buffers, self._buffers = self._buffers, {}
        for (_account, _region, endpoint, variant), buffer in buffers.items():
            stamp = datetime.fromtimestamp(buffer.first, UTC)
            folder = "/".join(
                p
                for p in (
                    buffer.prefix.strip("/"),
                    endpoint,
                    variant,
                    stamp.strftime("%Y/%m/%d/%H"),
                )
                if p
            )
            name = (
                stamp.strftime("%M-%S-") + f"{stamp.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            )
            body = ("\n".join(buffer.lines) + "\n").encode()
            try:
                self.s3.write_object(
                    buffer.bucket, f"{folder}/{name}", body, "application/jsonlines"
                )
            except Exception:  # a deleted bucket: capture is best effort, as on AWS
                continue

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_S):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()
