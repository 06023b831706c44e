"""The errors SageMaker answers, with AWS's codes and wording (specs/aws-apis.md §2.6).

SageMaker answers `ValidationException` for a resource that does not exist on Describe and Stop
calls (not the modeled `ResourceNotFound`), and waiters rely on it, so every not-found here
uses that code.
"""

from __future__ import annotations

from tule.errors import AwsError


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message, 400)


def not_found() -> AwsError:
    return validation("Requested resource not found.")


def resource_in_use(message: str) -> AwsError:
    return AwsError("ResourceInUse", message, 400)


def resource_limit(message: str) -> AwsError:
    return AwsError("ResourceLimitExceeded", message, 400)
