"""The function configuration: one record per function version, and its AWS response shape.

`$LATEST` is the configuration updates change; a published version is an immutable copy of
`$LATEST` at publishing time with its own number.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from tule.services.lambda_.names import LATEST, function_arn

SUPPORTED_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13")
DEFAULT_TIMEOUT_S = 3
MAX_TIMEOUT_S = 900
DEFAULT_MEMORY_MB = 128
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10240
DEFAULT_EPHEMERAL_MB = 512


def log_group_for(name: str) -> str:
    """The log group Lambda writes a function's logs to by default."""
    return f"/aws/lambda/{name}"


def last_modified(at: datetime) -> str:
    """Lambda's LastModified format: `2024-01-01T00:00:00.000+0000`."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class FunctionConfig:
    """One version of a function: what it runs and how."""

    account: str
    region: str
    name: str
    version: str
    runtime: str
    role: str
    handler: str
    code_sha256: str  # base64 of the zip's SHA-256, as Lambda shows it
    code_size: int
    description: str = ""
    timeout: int = DEFAULT_TIMEOUT_S
    memory_size: int = DEFAULT_MEMORY_MB
    environment: dict[str, str] = field(default_factory=dict)
    architectures: tuple[str, ...] = ("x86_64",)
    ephemeral_storage: int = DEFAULT_EPHEMERAL_MB
    log_group: str = ""
    last_modified: str = ""
    revision_id: str = ""

    @property
    def arn(self) -> str:
        """The ARN this version answers with: unqualified for `$LATEST`, as Lambda does."""
        qualifier = None if self.version == LATEST else self.version
        return function_arn(self.account, self.region, self.name, qualifier)

    @property
    def code_hex(self) -> str:
        """The zip's SHA-256 in hex: the name of its unpacked folder."""
        return base64.b64decode(self.code_sha256).hex()

    @property
    def logs_to(self) -> str:
        return self.log_group or log_group_for(self.name)

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["architectures"] = list(self.architectures)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FunctionConfig:
        values = dict(record)
        values["architectures"] = tuple(values.get("architectures", ("x86_64",)))
        return cls(**values)

    def shape(self) -> dict[str, Any]:
        """The FunctionConfiguration shape."""
        out: dict[str, Any] = {
            "FunctionName": self.name,
            "FunctionArn": self.arn,
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "CodeSize": self.code_size,
            "Description": self.description,
            "Timeout": self.timeout,
            "MemorySize": self.memory_size,
            "LastModified": self.last_modified,
            "CodeSha256": self.code_sha256,
            "Version": self.version,
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": self.revision_id,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": list(self.architectures),
            "EphemeralStorage": {"Size": self.ephemeral_storage},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": self.logs_to},
        }
        if self.environment:
            out["Environment"] = {"Variables": dict(self.environment)}
        return out
