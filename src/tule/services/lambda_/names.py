"""Function identifiers: names, full and partial ARNs, and qualifiers.

Lambda accepts a function as its name (`my-function`), its full ARN
(`arn:aws:lambda:us-east-1:123456789012:function:my-function`) or a partial ARN
(`123456789012:function:my-function`), each optionally followed by `:qualifier` (a version
number, `$LATEST` or an alias name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tule.ids import arn
from tule.services.lambda_.errors import function_not_found, invalid_parameter, validation

LATEST = "$LATEST"
MAX_NAME_LENGTH = 64

_NAME = r"(?P<name>[a-zA-Z0-9_-]+)"
_QUALIFIER = r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
_FULL = re.compile(
    rf"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{{12}}):function:"
    rf"{_NAME}{_QUALIFIER}$"
)
_PARTIAL = re.compile(rf"^(?P<account>\d{{12}}):function:{_NAME}{_QUALIFIER}$")
_PLAIN = re.compile(rf"^{_NAME}{_QUALIFIER}$")


@dataclass(frozen=True)
class FunctionRef:
    """A function named in a request, in the caller's account and region."""

    account: str
    region: str
    name: str
    qualifier: str | None = None

    @property
    def arn(self) -> str:
        return function_arn(self.account, self.region, self.name, self.qualifier)

    @property
    def unqualified_arn(self) -> str:
        return function_arn(self.account, self.region, self.name)


def function_arn(account: str, region: str, name: str, qualifier: str | None = None) -> str:
    """`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`."""
    suffix = f":{qualifier}" if qualifier else ""
    return arn("lambda", region, account, f"function:{name}{suffix}")


def parse_function(
    identifier: str, account: str, region: str, qualifier: str | None = None
) -> FunctionRef:
    """The function a request names. A qualifier in the name and a `Qualifier` parameter must
    agree; an ARN of another account or region names a function that is not here."""
    match = _FULL.match(identifier) or _PARTIAL.match(identifier) or _PLAIN.match(identifier)
    if match is None:
        raise function_not_found(identifier)
    groups = match.groupdict()
    name = groups["name"]
    if len(name) > MAX_NAME_LENGTH:
        raise validation(
            identifier,
            "functionName",
            f"Member must have length less than or equal to {MAX_NAME_LENGTH}",
        )
    derived = groups.get("qualifier")
    if derived and qualifier and derived != qualifier:
        raise invalid_parameter(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    ref = FunctionRef(account, region, name, derived or qualifier)
    if groups.get("account", account) != account or groups.get("region", region) != region:
        raise function_not_found(identifier)
    return ref


def parse_resource_arn(resource: str, account: str, region: str) -> FunctionRef:
    """The function a tagging call names (functions are the taggable resources tule has)."""
    match = _FULL.match(resource)
    if match is None:
        raise invalid_parameter(f"Invalid resource ARN: {resource}")
    return parse_function(resource, account, region)
