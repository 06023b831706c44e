"""Line records cut straight from the object's bytes make the same requests, answers and
failures as splitting them into records first (the general path)."""

import random

import pytest

from tule.services.sagemaker.transform_batches import (
    TransformObjectError,
    TransformSettings,
    plan_batches,
    transform_object,
)
from tule.services.sagemaker.transform_lines import line_spans, span_records
from tule.services.sagemaker.transform_records import split_records

SLICED = TransformSettings(
    content_type="text/csv", split_type="Line", batch_strategy="MultiRecord", assemble_with="Line"
)


def general_payloads(data: bytes, limit: int | None) -> list[bytes]:
    records = split_records(data, "Line")
    return [b"\n".join(records.units[s:e]) for s, e in plan_batches(records, "MultiRecord", limit)]


def random_lines(rng: random.Random, count: int, widest: int) -> bytes:
    lines = [b"x" * rng.randint(1, widest) for _ in range(count)]
    return b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")


@pytest.mark.parametrize("seed", range(40))
def test_spans_are_the_general_plan(seed: int) -> None:
    rng = random.Random(seed)
    data = random_lines(rng, rng.randint(1, 60), 12)
    limit = rng.choice([12, 13, 20, 37, 100, 10_000, None])
    spans = line_spans(data, limit)
    assert spans is not None
    assert [data[s:e] for s, e in spans] == general_payloads(data, limit)
    # span_records names the same records plan_batches does.
    records = split_records(data, "Line")
    assert [span_records(data, span) for span in spans] == plan_batches(
        records, "MultiRecord", limit
    )


@pytest.mark.parametrize(
    "data", [b"a\r\nb\r\n", b"a\n\nb\n", b"\na\nb", b"a\nb\n\n", b"\n"], ids=repr
)
def test_lines_that_are_not_records_as_they_are_take_the_general_path(data: bytes) -> None:
    assert line_spans(data, 100) is None
    sent: list[bytes] = []
    out = transform_object(data, SLICED, lambda p: sent.append(p) or p, object_name="o")
    assert sent == general_payloads(data, SLICED.max_payload_bytes)
    assert out == (b"a\nb\n" if sent else b"")


def test_empty_object_sends_nothing() -> None:
    assert line_spans(b"", 10) == []
    assert transform_object(b"", SLICED, lambda p: pytest.fail("sent"), object_name="o") == b""


def test_sliced_transform_answers_like_the_general_path() -> None:
    data = b"".join(b"%d,%d\n" % (i, i * i) for i in range(500))
    settings = TransformSettings(**{**SLICED.__dict__, "max_payload_bytes": 300})
    sent: list[bytes] = []

    def invoke(payload: bytes) -> bytes:
        sent.append(payload)
        return b"".join(b"r" + line + b"\n" for line in payload.split(b"\n"))

    out = transform_object(data, settings, invoke, object_name="o", max_concurrency=3)
    assert sent == general_payloads(data, 300)
    assert out == b"".join(b"r" + line + b"\n" for line in data.splitlines())


def test_oversized_record_fails_before_anything_is_sent() -> None:
    data = b"ab\ncd\n" + b"z" * 50 + b"\nef\n"
    settings = TransformSettings(**{**SLICED.__dict__, "max_payload_bytes": 10})
    with pytest.raises(TransformObjectError) as caught:
        transform_object(data, settings, lambda p: pytest.fail("sent"), object_name="o")
    assert str(caught.value) == (
        "object o, record 3: the record is 50 bytes, more than MaxPayloadInMB allows (10 bytes)"
    )


def test_a_failed_request_names_its_records() -> None:
    data = b"".join(b"row%02d\n" % i for i in range(30))  # 6 bytes a record
    settings = TransformSettings(**{**SLICED.__dict__, "max_payload_bytes": 20})

    def invoke(payload: bytes) -> bytes:
        if b"row09" in payload:
            raise RuntimeError("model down")
        return payload

    with pytest.raises(TransformObjectError) as caught:
        transform_object(data, settings, invoke, object_name="o")
    # Requests of 3 records (20 bytes hold "rowNN\nrowNN\nrowNN"): row09 is in records 10-12.
    assert str(caught.value) == "object o, records 10-12: model down"
    assert caught.value.batch == (9, 12)
