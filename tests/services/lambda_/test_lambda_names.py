"""Function identifiers and Lambda's timestamp format (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tule.errors import AwsError
from tule.services.lambda_.models import last_modified
from tule.services.lambda_.names import FunctionRef, parse_function

ACCOUNT, REGION = "123456789012", "eu-west-1"
ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:my-fn"


@pytest.mark.parametrize(
    ("identifier", "qualifier", "expected"),
    [
        ("my-fn", None, None),
        ("my-fn:7", None, "7"),
        (ARN, None, None),
        (f"{ARN}:$LATEST", None, "$LATEST"),
        (f"{ACCOUNT}:function:my-fn:prod", None, "prod"),
        ("my-fn", "3", "3"),
        ("my-fn:3", "3", "3"),
    ],
)
def test_names_full_and_partial_arns_name_the_same_function(
    identifier: str, qualifier: str | None, expected: str | None
) -> None:
    ref = parse_function(identifier, ACCOUNT, REGION, qualifier)
    assert ref == FunctionRef(ACCOUNT, REGION, "my-fn", expected)
    assert ref.unqualified_arn == ARN


def test_conflicting_qualifiers_are_refused() -> None:
    with pytest.raises(AwsError) as excinfo:
        parse_function("my-fn:1", ACCOUNT, REGION, "2")
    assert excinfo.value.code == "InvalidParameterValueException"


def test_an_arn_of_another_region_or_account_is_not_found_here() -> None:
    for other in (ARN.replace(REGION, "us-east-1"), ARN.replace(ACCOUNT, "000000000000")):
        with pytest.raises(AwsError) as excinfo:
            parse_function(other, ACCOUNT, REGION)
        assert excinfo.value.code == "ResourceNotFoundException"


def test_last_modified_uses_lambdas_format() -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)
    assert last_modified(moment) == "2024-01-02T03:04:05.678+0000"
