"""JSON and JSON Lines inference requests and responses (specs §0.3), and content types."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tule.algorithms.base import ChannelData, DataError
from tule.algorithms.formats import (
    canonical,
    decode_request,
    jsonlines,
    parse_content_type,
    read_dataset,
)
from tule.algorithms.formats import json as json_format


def test_three_instance_forms_decode_to_rows() -> None:
    body = json.dumps(
        {
            "instances": [
                {"features": [1, 2, 3]},
                {"data": {"features": {"values": [4, 5, 6]}}},
                {"data": {"features": {"keys": [2], "shape": [3], "values": [9]}}},
            ]
        }
    ).encode()
    data = decode_request(body, "application/json")
    assert data.is_sparse
    np.testing.assert_array_equal(data.features.toarray(), [[1, 2, 3], [4, 5, 6], [0, 0, 9]])


def test_dense_json_stays_dense_and_keeps_configuration() -> None:
    body = json.dumps(
        {"instances": [{"features": [1, 2]}, {"features": [3, 4], "configuration": {"k": 2}}]}
    ).encode()
    data = decode_request(body, "application/json")
    assert not data.is_sparse and data.features.shape == (2, 2)
    assert data.configuration == [{}, {"k": 2}]


def test_json_lines_requests() -> None:
    body = b'{"features": [1.5, 2]}\n\n{"data": {"features": {"values": [3, 4]}}}\n'
    data = decode_request(body, "application/jsonlines")
    np.testing.assert_array_equal(data.features, [[1.5, 2], [3, 4]])


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"[[1, 2], [3, 4]]", "instances"),
        (b"{not json", "Unable to parse JSON"),
        (b'{"instances": [{"features": [1, 2]}, {"features": [1]}]}', "different numbers"),
        (b'{"instances": [{"features": ["a", 2]}]}', "must be numbers"),
        (b'{"instances": [{"other": 1}]}', "no features"),
    ],
)
def test_bad_json_requests_are_data_errors(body: bytes, match: str) -> None:
    with pytest.raises(DataError, match=match):
        decode_request(body, "application/json")


def test_feature_dim_widens_sparse_and_checks_dense() -> None:
    sparse = b'{"instances": [{"data": {"features": {"keys": [1], "values": [2]}}}]}'
    assert decode_request(sparse, "application/json", feature_dim=5).features.shape == (1, 5)
    with pytest.raises(DataError, match="feature_dim=5"):
        decode_request(b'{"instances": [{"features": [1, 2]}]}', "application/json", feature_dim=5)


def test_json_and_json_lines_responses() -> None:
    outputs = {"score": np.array([0.5, 0.25], np.float32), "labels": np.array([[1, 2], [3, 4]])}
    assert json.loads(json_format.encode(outputs)) == {
        "predictions": [{"score": 0.5, "labels": [1, 2]}, {"score": 0.25, "labels": [3, 4]}]
    }
    assert json.loads(json_format.encode(outputs, wrapper="projections"))["projections"]
    lines = jsonlines.encode(outputs).decode().splitlines()
    assert [json.loads(line)["score"] for line in lines] == [0.5, 0.25]


def test_content_type_parameters_and_spellings() -> None:
    assert parse_content_type("text/csv; label_size=1; charset=UTF-8") == (
        "text/csv",
        {"label_size": "1", "charset": "UTF-8"},
    )
    assert parse_content_type(None) == ("", {})
    assert canonical("CSV") == "text/csv"
    assert canonical("text/x-libsvm") == canonical("libsvm") == "text/libsvm"
    assert canonical("recordio-protobuf") == "application/x-recordio-protobuf"


def test_unknown_training_content_type_and_bad_label_size(tmp_path) -> None:
    (tmp_path / "a").write_bytes(b"1,2\n")
    with pytest.raises(DataError, match="not supported"):
        read_dataset(ChannelData("train", "image/png", files=[tmp_path]))
    with pytest.raises(DataError, match="label_size"):
        read_dataset(ChannelData("train", "text/csv;label_size=x", files=[tmp_path]))
    with pytest.raises(DataError, match="not supported for training"):
        read_dataset(ChannelData("train", "application/json", files=[tmp_path]))
