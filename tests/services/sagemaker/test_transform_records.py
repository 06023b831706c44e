"""Batch transform's data path for one object: split, filter, batch, invoke, join, assemble
(spec §5.2-§5.4), driven by small model-like callables instead of a container."""

from __future__ import annotations

import gzip
import json
import struct
import threading
import time
from typing import Any

import pytest

from tule.algorithms.formats import recordio
from tule.services.sagemaker.transform_batches import TransformObjectError, TransformSettings
from tule.services.sagemaker.transform_batches import transform_object as run
from tule.services.sagemaker.transform_objects import manifest_keys, output_key, parse_manifest
from tule.services.sagemaker.transform_records import (
    TransformConfigError,
    TransformDataError,
    split_records,
    validate_request,
)

CSV_ROWS = [f"{i},{i},{i + 1},{i + 2}" for i in range(10)]  # id,f1,f2,f3
CSV_DATA = ("\n".join(CSV_ROWS) + "\n").encode()
SPEC_EXAMPLE = {
    "content_type": "text/csv",
    "accept": "text/csv",
    "split_type": "Line",
    "assemble_with": "Line",
    "input_filter": "$[1:]",
    "join_source": "Input",
    "output_filter": "$[0,-1]",
}


class SumModel:
    """A CSV regressor: one line per request line, the sum of that line's fields."""

    def __init__(self, delay: float = 0.0) -> None:
        self.payloads: list[bytes] = []
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()

    def __call__(self, payload: bytes) -> bytes:
        with self.lock:
            self.payloads.append(payload)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        # Earlier requests answer later, so an order kept by luck would show.
        time.sleep(self.delay * (10 - min(len(self.payloads), 10)))
        lines = payload.decode().splitlines()
        with self.lock:
            self.in_flight -= 1
        return "".join(f"{sum(float(x) for x in ln.split(',')):g}\n" for ln in lines).encode()


def json_model(payload: bytes) -> bytes:
    """A JSON Lines scorer: `{"score": sum}` per request line (a feature list)."""
    lines = payload.decode().splitlines()
    return b"".join(json.dumps({"score": sum(json.loads(ln))}).encode() + b"\n" for ln in lines)


def predictions_model(payload: bytes) -> bytes:
    """A built-in-style JSON answer: `{"predictions": [{"score": ...}, ...]}`."""
    rows = [json.loads(ln) for ln in payload.decode().splitlines()]
    return json.dumps({"predictions": [{"score": sum(r)} for r in rows]}).encode()


def settings(**overrides: Any) -> TransformSettings:
    return TransformSettings(**{**SPEC_EXAMPLE, **overrides})


# -- the spec's CSV example ------------------------------------------------------------------


def test_spec_example_writes_id_and_prediction_per_line_over_several_requests() -> None:
    model = SumModel()
    # "1,2,3" is 5 bytes: three records with their newlines fit in 20 bytes, a fourth does not.
    out = run(CSV_DATA, settings(max_payload_bytes=20), model, object_name="s3://b/in.csv")
    expected = "".join(f"{i},{3 * i + 3}\n" for i in range(10))
    assert out.decode() == expected
    assert len(model.payloads) == 4
    assert model.payloads[0] == b"0,1,2\n1,2,3\n2,3,4"
    assert all(len(p) <= 20 for p in model.payloads)


def test_spec_example_with_single_record_sends_one_filtered_record_per_request() -> None:
    model = SumModel()
    out = run(CSV_DATA, settings(batch_strategy="SingleRecord"), model, object_name="in.csv")
    assert out.decode() == "".join(f"{i},{3 * i + 3}\n" for i in range(10))
    assert model.payloads == [f"{i},{i + 1},{i + 2}".encode() for i in range(10)]


def test_csv_join_keeps_every_input_field_then_appends_the_output() -> None:
    out = run(b"a,1,2\nb,3,4\n", settings(output_filter="$"), SumModel(), object_name="x")
    assert out == b"a,1,2,3\nb,3,4,7\n"


def test_csv_fields_are_parsed_and_written_back_per_rfc_4180() -> None:
    data = b'"x, y",1,2\r\n"q""z",3,4\r\n'
    model = SumModel()
    out = run(data, settings(), model, object_name="x")
    assert model.payloads == [b"1,2\n3,4"]
    assert out == b'"x, y",3\n"q""z",7\n'


# -- fast path -------------------------------------------------------------------------------


def test_without_data_processing_records_and_responses_pass_through_untouched() -> None:
    seen: list[bytes] = []

    def model(payload: bytes) -> bytes:
        seen.append(payload)
        return b"one answer for the whole batch"  # not one line per record: not split

    plain = settings(input_filter="$", join_source="None", output_filter="$")
    out = run(b"1, 2 ,3\n4,5,6\n", plain, model, object_name="x")
    assert seen == [b"1, 2 ,3\n4,5,6"]
    assert out == b"one answer for the whole batch\n"


def test_assemble_line_does_not_double_a_newline_and_none_concatenates() -> None:
    plain = settings(input_filter="$", join_source="None", output_filter="$")
    single = dict(batch_strategy="SingleRecord")
    assert run(b"1\n2\n", plain, SumModel(), object_name="x") == b"1\n2\n"
    one_by_one = TransformSettings(**{**plain.__dict__, **single})
    assert run(b"1\n2\n", one_by_one, SumModel(), object_name="x") == b"1\n2\n"
    glued = TransformSettings(**{**plain.__dict__, **single, "assemble_with": "None"})
    assert run(b"1\n2\n", glued, lambda p: p + b"!", object_name="x") == b"1!2!"


def test_split_type_none_sends_the_whole_object_once() -> None:
    model = SumModel()
    whole = TransformSettings(content_type="text/csv", split_type="None", assemble_with="None")
    assert run(b"1,2\n3,4\n", whole, model, object_name="x") == b"3\n7\n"
    assert model.payloads == [b"1,2\n3,4\n"]
    assert run(b"", whole, model, object_name="x") == b""
    assert len(model.payloads) == 1


def test_gzip_objects_are_decompressed_before_splitting() -> None:
    out = run(gzip.compress(CSV_DATA), settings(compression="Gzip"), SumModel(), object_name="x")
    assert out == run(CSV_DATA, settings(), SumModel(), object_name="x")
    with pytest.raises(TransformObjectError, match=r"object x: .*not gzip"):
        run(CSV_DATA, settings(compression="Gzip"), SumModel(), object_name="x")


def test_line_split_drops_empty_lines_and_carriage_returns() -> None:
    records = split_records(b"a\r\n\r\nb\n\nc", "Line")
    assert records.bodies == [b"a", b"b", b"c"]


# -- JSON ------------------------------------------------------------------------------------

JSONL = b'{"id":1,"features":[1,2]}\n{"id":2,"features":[3,4]}\n'
JSON_SETTINGS = {
    "content_type": "application/jsonlines",
    "accept": "application/jsonlines",
    "input_filter": "$.features",
    "output_filter": "$",
}


def test_json_lines_join_adds_sagemaker_output_to_each_input_object() -> None:
    out = run(JSONL, settings(**JSON_SETTINGS), json_model, object_name="x")
    assert [json.loads(ln) for ln in out.splitlines()] == [
        {"id": 1, "features": [1, 2], "SageMakerOutput": {"score": 3}},
        {"id": 2, "features": [3, 4], "SageMakerOutput": {"score": 7}},
    ]


def test_output_filter_keeps_id_and_sagemaker_output() -> None:
    chosen = settings(**{**JSON_SETTINGS, "output_filter": "$['id','SageMakerOutput']"})
    out = run(JSONL, chosen, json_model, object_name="x")
    assert out.splitlines() == [
        b'{"id":1,"SageMakerOutput":{"score":3}}',
        b'{"id":2,"SageMakerOutput":{"score":7}}',
    ]


def test_non_object_json_input_is_wrapped_as_sagemaker_input() -> None:
    no_filter = settings(**{**JSON_SETTINGS, "input_filter": "$"})
    out = run(b"[1,2]\n[3,4]\n", no_filter, json_model, object_name="x")
    assert out.splitlines()[1] == b'{"SageMakerInput":[3,4],"SageMakerOutput":{"score":7}}'


def test_a_json_document_with_one_list_is_split_one_element_per_record() -> None:
    as_json = settings(**{**JSON_SETTINGS, "accept": "application/json"})
    multi = run(JSONL, as_json, predictions_model, object_name="x")
    one_by_one = settings(**{**as_json.__dict__, "batch_strategy": "SingleRecord"})
    single = run(JSONL, one_by_one, predictions_model, object_name="x")
    assert multi == single
    assert json.loads(multi.splitlines()[1])["SageMakerOutput"] == {"predictions": [{"score": 7}]}


def test_a_non_json_output_joins_as_its_text() -> None:
    no_filter = settings(**{**JSON_SETTINGS, "input_filter": "$"})
    out = run(b'{"id":1}\n', no_filter, lambda p: b"0.5,1\n", object_name="x")
    assert json.loads(out) == {"id": 1, "SageMakerOutput": "0.5,1"}


def test_output_filter_without_join_selects_from_the_output() -> None:
    only = settings(join_source="None", input_filter="$[1:]", output_filter="$[0]")
    out = run(b"a,1,2\n", only, lambda p: b"9,0.1,0.9\n", object_name="x")
    assert out == b"9\n"


# -- errors ----------------------------------------------------------------------------------


def test_an_output_filter_index_out_of_range_fails_naming_the_record() -> None:
    with pytest.raises(TransformObjectError, match=r"object s3://b/k, record 1: .*out of range"):
        run(CSV_DATA, settings(output_filter="$[0,9]"), SumModel(), object_name="s3://b/k")


def test_a_record_larger_than_the_payload_limit_fails_naming_it() -> None:
    data = b"1,2\n" + b"1," * 20 + b"1\n"
    with pytest.raises(TransformObjectError, match=r"record 2: the record is 41 bytes, more"):
        run(data, settings(max_payload_bytes=30, input_filter="$"), SumModel(), object_name="x")


def test_a_response_with_too_few_lines_fails_with_both_counts() -> None:
    def drops_one(payload: bytes) -> bytes:
        return b"\n".join(payload.split(b"\n")[1:]) + b"\n"

    with pytest.raises(TransformObjectError, match=r"records 1-10: the model answered 9 line"):
        run(CSV_DATA, settings(), drops_one, object_name="x")


def test_input_already_holding_sagemaker_output_fails() -> None:
    data = b'{"id":1,"SageMakerOutput":0}\n'
    no_filter = settings(**{**JSON_SETTINGS, "input_filter": "$"})
    with pytest.raises(TransformObjectError, match="already has a 'SageMakerOutput' key"):
        run(data, no_filter, lambda p: b'{"score":1}', object_name="x")


def test_a_failed_request_names_the_object_and_its_record_range() -> None:
    def failing(payload: bytes) -> bytes:
        raise RuntimeError("ModelError: 500 from the container")

    with pytest.raises(TransformObjectError) as info:
        run(CSV_DATA, settings(max_payload_bytes=20), failing, object_name="s3://b/k.csv")
    assert str(info.value) == "object s3://b/k.csv, records 1-3: ModelError: 500 from the container"


# -- binary framings -------------------------------------------------------------------------


def multipart(payload: bytes) -> bytes:
    """A RecordIO record written in two parts (cflag 1, 3), split where MXNet splits: at an
    aligned magic number inside the payload, which the writer drops."""
    cut = payload.index(recordio.MAGIC_BYTES)
    first, last = payload[:cut], payload[cut + 4 :]
    head = recordio.MAGIC_BYTES + struct.pack("<I", (1 << 29) | len(first)) + first
    tail = recordio.MAGIC_BYTES + struct.pack("<I", (3 << 29) | len(last)) + last
    return head + b"\0" * (-len(first) % 4) + tail + b"\0" * (-len(last) % 4)


def test_recordio_split_round_trips_single_and_multi_part_records() -> None:
    tricky = b"abcd" + recordio.MAGIC_BYTES + b"efg"
    data = recordio.frame(b"one") + multipart(tricky) + recordio.frame(b"three!")
    records = split_records(data, "RecordIO")
    assert records.bodies == [b"one", tricky, b"three!"]
    assert b"".join(records.units) == data


def test_recordio_multi_record_keeps_framing_and_single_record_sends_bare_payloads() -> None:
    data = b"".join(recordio.frame(f"rec{i}".encode()) for i in range(5))
    sent: list[bytes] = []

    def model(payload: bytes) -> bytes:
        sent.append(payload)
        return payload.upper()

    binary = TransformSettings(
        content_type="application/x-recordio-protobuf", split_type="RecordIO"
    )
    assert run(data, binary, model, object_name="x") == data.upper()
    assert sent == [data]
    assert recordio.split_frames(sent[0], final=True)[0] == [f"rec{i}".encode() for i in range(5)]
    sent.clear()
    one_by_one = TransformSettings(**{**binary.__dict__, "batch_strategy": "SingleRecord"})
    assert run(data, one_by_one, model, object_name="x") == b"REC0REC1REC2REC3REC4"
    assert sent == [f"rec{i}".encode() for i in range(5)]


def test_tfrecord_split_follows_the_length_framing() -> None:
    def frame(data: bytes) -> bytes:
        return struct.pack("<QI", len(data), 0) + data + b"\0\0\0\0"

    data = frame(b"alpha") + frame(b"") + frame(b"gamma gamma")
    records = split_records(data, "TFRecord")
    assert records.bodies == [b"alpha", b"", b"gamma gamma"]
    assert records.units[2] == frame(b"gamma gamma")
    with pytest.raises(TransformDataError, match="truncated TFRecord"):
        split_records(data[:-3], "TFRecord")


# -- concurrency and settings ----------------------------------------------------------------


def test_concurrent_requests_keep_the_output_in_input_order() -> None:
    model = SumModel(delay=0.01)
    out = run(CSV_DATA, settings(max_payload_bytes=7), model, object_name="x", max_concurrency=4)
    assert out.decode() == "".join(f"{i},{3 * i + 3}\n" for i in range(10))
    assert len(model.payloads) == 10
    assert model.most_in_flight > 1


def test_settings_precedence_is_request_then_execution_parameters_then_defaults() -> None:
    request = {"TransformInput": {"SplitType": "Line"}, "TransformOutput": {}}
    defaults = TransformSettings.from_request(request, None)
    assert (defaults.max_concurrent_transforms, defaults.max_payload_bytes) == (1, 6 << 20)
    assert defaults.batch_strategy == "MultiRecord"
    answer = {"MaxConcurrentTransforms": 8, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 2}
    container = TransformSettings.from_request(request, answer)
    assert (container.max_concurrent_transforms, container.max_payload_bytes) == (8, 2 << 20)
    assert container.batch_strategy == "SingleRecord"
    explicit = {**request, "MaxConcurrentTransforms": 2, "MaxPayloadInMB": 0}
    explicit["BatchStrategy"] = "MultiRecord"
    chosen = TransformSettings.from_request(explicit, answer)
    assert (chosen.max_concurrent_transforms, chosen.max_payload_bytes) == (2, None)
    assert chosen.batch_strategy == "MultiRecord"
    whole = TransformSettings.from_request({"TransformInput": {}}, None)
    assert whole.batch_strategy == "SingleRecord"


def test_create_transform_job_rules() -> None:
    base = {
        "TransformInput": {"ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"Accept": "text/csv", "AssembleWith": "Line"},
        "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input"},
    }
    validate_request(base)
    bad = [
        ({"DataProcessing": {"InputFilter": "$..x"}}, "DataProcessing.InputFilter is invalid"),
        ({"TransformOutput": {"Accept": "text/csv"}}, "AssembleWith must be Line"),
        ({"TransformOutput": {"Accept": "image/png", "AssembleWith": "Line"}}, "Accept"),
        ({"MaxPayloadInMB": 101}, "cannot be greater than 100 MB"),
        ({"MaxPayloadInMB": 20, "MaxConcurrentTransforms": 6}, "cannot exceed 100 MB"),
    ]
    for change, message in bad:
        with pytest.raises(TransformConfigError, match=message):
            validate_request({**base, **change})
    validate_request({"TransformInput": {"ContentType": "image/png"}, "MaxPayloadInMB": 100})


# -- object names ----------------------------------------------------------------------------


def test_output_key_is_relative_to_the_prefix_directory() -> None:
    assert output_key("s3://in/data/", "S3Prefix", "data/sub/a.csv", "s3://out/results") == (
        "out",
        "results/sub/a.csv.out",
    )
    assert output_key("s3://in/data/test", "S3Prefix", "data/test/a.csv", "s3://out/r/") == (
        "out",
        "r/test/a.csv.out",
    )
    assert output_key("s3://in/data/a.csv", "S3Prefix", "data/a.csv", "s3://out") == (
        "out",
        "a.csv.out",
    )
    manifest_prefix = "s3://in/images/img"
    assert output_key(manifest_prefix, "ManifestFile", "images/img1.jpg", "s3://out/o") == (
        "out",
        "o/1.jpg.out",
    )


def test_manifest_lists_prefix_joined_uris_and_rejects_malformed_files() -> None:
    body = json.dumps([{"prefix": "s3://b/p/"}, "rel1", "sub/rel2"]).encode()
    assert manifest_keys(body) == ["s3://b/p/rel1", "s3://b/p/sub/rel2"]
    assert parse_manifest(body).prefix == "s3://b/p/"
    for bad in (b"{}", b"not json", b'[{"prefix": "s3://b/p/"}]', b'[{"prefix": "s3://b/"}, 3]'):
        with pytest.raises(TransformDataError):
            manifest_keys(bad)


def test_an_input_filter_that_does_not_fit_a_record_names_that_record() -> None:
    data = b"a,1,2\nb\n"
    with pytest.raises(TransformObjectError, match=r"object x, record 2: .*out of range"):
        run(data, settings(input_filter="$[1,2]"), SumModel(), object_name="x")


def test_a_json_output_joined_to_csv_adds_its_values_as_fields() -> None:
    as_json = settings(accept="application/json", input_filter="$", output_filter="$")
    out = run(b"id1,1\n", as_json, lambda p: b"[0.2, 0.8]", object_name="x")
    assert out == b"id1,1,0.2,0.8\n"
    out = run(b"id1,1\n", as_json, lambda p: b'{"label":1}', object_name="x")
    assert out == b'id1,1,"{""label"":1}"\n'
