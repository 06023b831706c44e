"""AWS Lambda operation handlers: request shape -> one domain call -> response shape."""

from __future__ import annotations

from typing import Any

from tule.context import RequestContext
from tule.services.lambda_ import Lambda
from tule.services.lambda_.code import MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES

# Lambda's default quotas, as GetAccountSettings reports them.
TOTAL_CODE_SIZE = 80 * 1024 * 1024 * 1024
CONCURRENT_EXECUTIONS = 1000


def _domain(ctx: RequestContext) -> Lambda:
    return ctx.service


def create_function(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return _domain(ctx).create_function(ctx.account_id, ctx.region, request).shape()


def get_function(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    config, tags = _domain(ctx).get_function(
        ctx.account_id, ctx.region, request["FunctionName"], request.get("Qualifier")
    )
    # Code.Location (a presigned URL to the zip) is left out: tule serves no such URL yet.
    out: dict[str, Any] = {"Configuration": config.shape(), "Code": {"RepositoryType": "S3"}}
    if tags:
        out["Tags"] = tags
    return out


def get_function_configuration(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return (
        _domain(ctx)
        .get_function_configuration(
            ctx.account_id, ctx.region, request["FunctionName"], request.get("Qualifier")
        )
        .shape()
    )


def list_functions(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    configs, marker = _domain(ctx).list_functions(
        ctx.account_id,
        ctx.region,
        all_versions=request.get("FunctionVersion") == "ALL",
        marker=request.get("Marker"),
        max_items=request.get("MaxItems"),
    )
    out: dict[str, Any] = {"Functions": [c.shape() for c in configs]}
    if marker:
        out["NextMarker"] = marker
    return out


def list_versions_by_function(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    configs, marker = _domain(ctx).list_versions(
        ctx.account_id,
        ctx.region,
        request["FunctionName"],
        marker=request.get("Marker"),
        max_items=request.get("MaxItems"),
    )
    out: dict[str, Any] = {"Versions": [c.shape() for c in configs]}
    if marker:
        out["NextMarker"] = marker
    return out


def update_function_code(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    domain = _domain(ctx)
    return domain.update_function_code(
        ctx.account_id, ctx.region, request["FunctionName"], request
    ).shape()


def update_function_configuration(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    domain = _domain(ctx)
    return domain.update_function_configuration(
        ctx.account_id, ctx.region, request["FunctionName"], request
    ).shape()


def delete_function(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    _domain(ctx).delete_function(
        ctx.account_id, ctx.region, request["FunctionName"], request.get("Qualifier")
    )
    return {"StatusCode": 204}


def publish_version(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return (
        _domain(ctx)
        .publish_version(
            ctx.account_id,
            ctx.region,
            request["FunctionName"],
            code_sha256=request.get("CodeSha256"),
            description=request.get("Description"),
            revision_id=request.get("RevisionId"),
        )
        .shape()
    )


def invoke(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    result = _domain(ctx).invoke(
        ctx.account_id,
        ctx.region,
        request["FunctionName"],
        request.get("Payload") or b"",
        invocation_type=request.get("InvocationType") or "RequestResponse",
        log_type=request.get("LogType") or "None",
        qualifier=request.get("Qualifier"),
        client_context=request.get("ClientContext"),
        request_id=ctx.request_id,
    )
    out: dict[str, Any] = {"StatusCode": result.status_code, "Payload": result.payload}
    if result.status_code == 200:
        out["ExecutedVersion"] = result.executed_version
    if result.function_error:
        out["FunctionError"] = result.function_error
    if result.log_result is not None:
        out["LogResult"] = result.log_result
    return out


def invoke_async(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    """The deprecated InvokeAsync: an Event invocation."""
    result = _domain(ctx).invoke(
        ctx.account_id,
        ctx.region,
        request["FunctionName"],
        request.get("InvokeArgs") or b"",
        invocation_type="Event",
        request_id=ctx.request_id,
    )
    return {"Status": result.status_code}


def tag_resource(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    _domain(ctx).tag_resource(ctx.account_id, ctx.region, request["Resource"], request["Tags"])
    return {}


def untag_resource(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    _domain(ctx).untag_resource(ctx.account_id, ctx.region, request["Resource"], request["TagKeys"])
    return {}


def list_tags(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": _domain(ctx).list_tags(ctx.account_id, ctx.region, request["Resource"])}


def get_account_settings(ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
    total, count = _domain(ctx).account_usage(ctx.account_id, ctx.region)
    return {
        "AccountLimit": {
            "TotalCodeSize": TOTAL_CODE_SIZE,
            "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
            "CodeSizeZipped": MAX_ZIPPED_BYTES,
            "ConcurrentExecutions": CONCURRENT_EXECUTIONS,
            "UnreservedConcurrentExecutions": CONCURRENT_EXECUTIONS,
        },
        "AccountUsage": {"TotalCodeSize": total, "FunctionCount": count},
    }
