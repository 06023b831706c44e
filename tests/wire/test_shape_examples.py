"""The example generator keeps its promises: values satisfy the model's constraints, are
deterministic, and the seeds vary which optional members appear."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from botocore.validate import ParamValidator
from shape_examples import HARD_DEPTH_MARGIN, ExampleBuilder, example, examples
from wire_support import SERVED

from tule.aws import specs
from tule.aws.validation import problems


@pytest.mark.parametrize("service", SERVED)
def test_examples_satisfy_the_model_constraints(service: str) -> None:
    """Checked by botocore's own parameter validator and by tule's (lengths, ranges, enums,
    patterns), for the input and output of every operation. Shapes with an event stream are
    left out: the generator leaves the stream member to the framing code."""
    failures = []
    model = specs.service_model(service)
    for operation in model.operation_names:
        op = model.operation_model(operation)
        for shape in (op.input_shape, op.output_shape):
            if shape is None or shape.event_stream_name:
                continue
            for label, value in examples(shape):
                found = problems(shape, value)
                report = ParamValidator().validate(value, shape)
                if found or report.has_errors():
                    failures.append(f"{operation} {shape.name} {label}: {found[:1]} {report}")
    assert not failures, "\n".join(failures[:20])


def test_examples_are_deterministic() -> None:
    shape = specs.operation_model("sagemaker", "CreateTrainingJob").input_shape
    assert example(shape) == example(shape)
    assert example(shape, seed=7) == example(shape, seed=7)


def test_seeds_vary_which_optional_members_appear() -> None:
    shape = specs.operation_model("sagemaker", "CreateTrainingJob").input_shape
    keys = {frozenset(v) for _, v in examples(shape, (None, 1, 2, 3))}
    assert len(keys) > 1
    full = example(shape)
    assert set(full) == set(shape.members)
    for seed in (1, 2, 3):
        assert set(shape.required_members) <= set(example(shape, seed))


def test_patterned_strings_match_their_pattern() -> None:
    shape = specs.operation_model("sagemaker", "DescribeEndpoint").input_shape
    member = shape.members["EndpointName"]
    assert re.fullmatch(member.metadata["pattern"], example(shape)["EndpointName"])
    arn = specs.operation_model("sagemaker", "AddTags").input_shape.members["ResourceArn"]
    assert re.fullmatch(arn.metadata["pattern"], example(arn))


def test_tagged_unions_get_exactly_one_member() -> None:
    model = specs.service_model("sagemaker")
    structures = [model.shape_for(n) for n in model.shape_names]
    unions = [s.name for s in structures if s.type_name == "structure" and s.is_tagged_union]
    assert unions
    for name in unions[:10]:
        for seed in (None, 1, 2):
            assert len(example(model.shape_for(name), seed)) == 1, name


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(x) for x in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(x) for x in value), default=0)
    return 0


def test_recursive_shapes_stop_at_the_depth_limit() -> None:
    # SageMaker's Search expressions nest without end (NestedFilters, SubExpressions).
    shape = specs.operation_model("sagemaker", "Search").input_shape
    shallow = _depth(ExampleBuilder(None, max_depth=3).build(shape))
    deep = _depth(ExampleBuilder(None, max_depth=6).build(shape))
    assert shallow < deep <= 6 + HARD_DEPTH_MARGIN + 1


def test_header_timestamps_are_whole_seconds_and_others_whole_milliseconds() -> None:
    shape = specs.operation_model("s3", "PutObject").input_shape
    value = example(shape)
    assert value["Expires"].microsecond == 0
    assert value["ObjectLockRetainUntilDate"].microsecond == 0
    body_ts = example(specs.operation_model("kinesis", "GetShardIterator").input_shape)
    stamp = body_ts["Timestamp"]
    assert isinstance(stamp, datetime) and stamp.tzinfo is not None
    assert stamp.microsecond % 1000 == 0 and stamp.microsecond != 0
