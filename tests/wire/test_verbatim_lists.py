"""A `Verbatim` list is written as the handler built it; any other list is converted."""

from __future__ import annotations

import json

from tule.aws import specs
from tule.aws.protocols import json as json_protocol
from tule.wire import Verbatim


def _results_shape():  # GetQueryResults' output: ResultSet.Rows[].Data[].VarCharValue
    return specs.operation_model("athena", "GetQueryResults").output_shape


def test_a_verbatim_list_is_written_as_it_is_and_a_plain_one_is_converted() -> None:
    shape = _results_shape()
    # An unknown key and a None value: conversion drops both, so only a verbatim list keeps
    # them, which shows the list was not walked.
    rows = [{"Data": [{"VarCharValue": "a", "extra": 1}, {"VarCharValue": None}]}]
    plain = {"ResultSet": {"Rows": rows}}
    verbatim = {"ResultSet": {"Rows": Verbatim(rows)}}
    assert json.loads(json_protocol.render(shape, plain)) == {
        "ResultSet": {"Rows": [{"Data": [{"VarCharValue": "a"}, {}]}]}
    }
    assert json.loads(json_protocol.render(shape, verbatim)) == {"ResultSet": {"Rows": rows}}
    assert (
        json_protocol.to_json(shape, verbatim)["ResultSet"]["Rows"] is verbatim["ResultSet"]["Rows"]
    )


def test_wire_ready_rows_render_the_same_as_converted_ones() -> None:
    shape = _results_shape()
    rows = [{"Data": [{"VarCharValue": "null"}, {}]}, {"Data": [{"VarCharValue": "x"}, {}]}]
    converted = json_protocol.render(shape, {"ResultSet": {"Rows": rows}})
    written = json_protocol.render(shape, {"ResultSet": {"Rows": Verbatim(rows)}})
    assert json.loads(written) == json.loads(converted)
