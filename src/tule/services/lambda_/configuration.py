"""Checking and applying the settings of CreateFunction and UpdateFunctionConfiguration.

The gateway has already checked the request against botocore's model (types, lengths,
patterns, enums); this module adds what Lambda checks beyond the model (the runtimes tule
runs, the classic timeout and memory limits, reserved environment variables and their 4 KB
limit) and refuses the settings tule does not implement, rather than accepting and ignoring
them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from tule.services.lambda_.errors import invalid_parameter, validation
from tule.services.lambda_.models import (
    MAX_MEMORY_MB,
    MAX_TIMEOUT_S,
    SUPPORTED_RUNTIMES,
    FunctionConfig,
)

# Variables Lambda sets itself and a function may not set (Lambda's "reserved keys").
RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
MAX_ENVIRONMENT_BYTES = 4096


def _is_set(value: Any) -> bool:
    """Whether a member asks for something (empty lists and structures ask for nothing)."""
    if isinstance(value, dict):
        return any(_is_set(v) for v in value.values())
    if isinstance(value, list | str):
        return bool(value)
    return value is not None


def refuse_unsupported(request: dict[str, Any]) -> None:
    """InvalidParameterValueException for settings tule does not implement."""
    for member in (
        "VpcConfig",
        "DeadLetterConfig",
        "KMSKeyArn",
        "Layers",
        "FileSystemConfigs",
        "ImageConfig",
        "CodeSigningConfigArn",
        "CapacityProviderConfig",
        "DurableConfig",
        "TenancyConfig",
        "RuntimeConfig",
        "AcceleratorConfig",
        "PublishTo",
    ):
        if _is_set(request.get(member)):
            raise invalid_parameter(f"{member} is not supported by tule.")
    if (request.get("TracingConfig") or {}).get("Mode") == "Active":
        raise invalid_parameter("Active tracing (X-Ray) is not supported by tule.")
    if (request.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions":
        raise invalid_parameter("SnapStart is not supported by tule.")
    logging_config = request.get("LoggingConfig") or {}
    if logging_config.get("LogFormat", "Text") != "Text":
        raise invalid_parameter("Only the Text log format is supported by tule.")


def check_runtime(runtime: str) -> None:
    if runtime not in SUPPORTED_RUNTIMES:
        raise invalid_parameter(
            f"The runtime parameter of {runtime} is not supported by tule, which runs "
            f"{', '.join(SUPPORTED_RUNTIMES)} functions."
        )


def check_timeout(timeout: int) -> None:
    if timeout > MAX_TIMEOUT_S:
        raise validation(
            timeout, "timeout", f"Member must have value less than or equal to {MAX_TIMEOUT_S}"
        )


def check_memory(memory: int) -> None:
    if memory > MAX_MEMORY_MB:
        raise validation(
            memory, "memorySize", f"Member must have value less than or equal to {MAX_MEMORY_MB}"
        )


def check_environment(variables: dict[str, str]) -> None:
    reserved = sorted(RESERVED_VARIABLES.intersection(variables))
    if reserved:
        raise invalid_parameter(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided contains reserved keys that are "
            f"currently not supported for modification. Reserved keys used in this request: "
            f"{', '.join(reserved)}"
        )
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > MAX_ENVIRONMENT_BYTES:
        raise invalid_parameter(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided exceeded the 4KB limit. String "
            f"measured: {measured}"
        )


def apply_settings(config: FunctionConfig, request: dict[str, Any]) -> FunctionConfig:
    """`config` with the settings a CreateFunction / UpdateFunctionConfiguration request
    gives, checked; members the request leaves out keep their value."""
    refuse_unsupported(request)
    changes: dict[str, Any] = {}
    if "Runtime" in request:
        check_runtime(request["Runtime"])
        changes["runtime"] = request["Runtime"]
    if "Timeout" in request:
        check_timeout(request["Timeout"])
        changes["timeout"] = request["Timeout"]
    if "MemorySize" in request:
        check_memory(request["MemorySize"])
        changes["memory_size"] = request["MemorySize"]
    if "Environment" in request:
        variables = dict((request["Environment"] or {}).get("Variables") or {})
        check_environment(variables)
        changes["environment"] = variables
    for member, attribute in (("Role", "role"), ("Handler", "handler")):
        if member in request:
            changes[attribute] = request[member]
    if "Description" in request:
        changes["description"] = request["Description"]
    if "EphemeralStorage" in request:
        changes["ephemeral_storage"] = request["EphemeralStorage"]["Size"]
    if "LoggingConfig" in request and request["LoggingConfig"].get("LogGroup"):
        changes["log_group"] = request["LoggingConfig"]["LogGroup"]
    return replace(config, **changes)
