"""SageMaker ARNs: `arn:aws:sagemaker:<region>:<account>:<type>/<name>`.

SageMaker lower-cases the resource name in its ARNs (observed for endpoints and applied to
every resource type; specs/aws-apis.md §2.1), and tag operations address resources by ARN.
"""

from __future__ import annotations

import re

from tule.ids import arn

_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:([a-z0-9\-]+):(\d{12}):([a-z\-]+)/(.+)$")


def resource_arn(region: str, account: str, resource_type: str, name: str) -> str:
    return arn("sagemaker", region, account, f"{resource_type}/{name.lower()}")


def parse(value: str) -> tuple[str, str, str, str] | None:
    """(region, account, resource type, lower-cased name) of a SageMaker ARN, or None."""
    m = _ARN.match(value)
    return (m.group(1), m.group(2), m.group(3), m.group(4)) if m else None
