"""Handlers of the hosting operations: models, endpoint configurations and endpoints."""

from __future__ import annotations

from typing import Any

from tule.context import RequestContext
from tule.services.sagemaker import SageMaker

Request = dict[str, Any]
Response = dict[str, Any]


def _sm(ctx: RequestContext) -> SageMaker:
    return ctx.service


def _page(member: str, items: list[dict[str, Any]], token: str | None) -> Response:
    out: Response = {member: items}
    if token:
        out["NextToken"] = token
    return out


def create_model(ctx: RequestContext, request: Request) -> Response:
    return {"ModelArn": _sm(ctx).create_resource("model", ctx.account_id, ctx.region, request)}


def describe_model(ctx: RequestContext, request: Request) -> Response:
    return _sm(ctx).hosting.models.describe(ctx.account_id, ctx.region, request["ModelName"])


def list_models(ctx: RequestContext, request: Request) -> Response:
    return _page("Models", *_sm(ctx).hosting.models.list(ctx.account_id, ctx.region, request))


def delete_model(ctx: RequestContext, request: Request) -> Response:
    _sm(ctx).delete_resource("model", ctx.account_id, ctx.region, request["ModelName"])
    return {}


def create_endpoint_config(ctx: RequestContext, request: Request) -> Response:
    arn = _sm(ctx).create_resource("endpoint-config", ctx.account_id, ctx.region, request)
    return {"EndpointConfigArn": arn}


def describe_endpoint_config(ctx: RequestContext, request: Request) -> Response:
    configs = _sm(ctx).hosting.endpoint_configs
    return configs.describe(ctx.account_id, ctx.region, request["EndpointConfigName"])


def list_endpoint_configs(ctx: RequestContext, request: Request) -> Response:
    configs = _sm(ctx).hosting.endpoint_configs
    return _page("EndpointConfigs", *configs.list(ctx.account_id, ctx.region, request))


def delete_endpoint_config(ctx: RequestContext, request: Request) -> Response:
    name = request["EndpointConfigName"]
    _sm(ctx).delete_resource("endpoint-config", ctx.account_id, ctx.region, name)
    return {}


def create_endpoint(ctx: RequestContext, request: Request) -> Response:
    arn = _sm(ctx).create_resource("endpoint", ctx.account_id, ctx.region, request)
    return {"EndpointArn": arn}


def update_endpoint(ctx: RequestContext, request: Request) -> Response:
    return {"EndpointArn": _sm(ctx).hosting.endpoints.update(ctx.account_id, ctx.region, request)}


def update_endpoint_weights_and_capacities(ctx: RequestContext, request: Request) -> Response:
    arn = _sm(ctx).hosting.endpoints.update_weights_and_capacities(
        ctx.account_id, ctx.region, request["EndpointName"], request["DesiredWeightsAndCapacities"]
    )
    return {"EndpointArn": arn}


def delete_endpoint(ctx: RequestContext, request: Request) -> Response:
    _sm(ctx).delete_resource("endpoint", ctx.account_id, ctx.region, request["EndpointName"])
    return {}


def describe_endpoint(ctx: RequestContext, request: Request) -> Response:
    return _sm(ctx).hosting.endpoints.describe(ctx.account_id, ctx.region, request["EndpointName"])


def list_endpoints(ctx: RequestContext, request: Request) -> Response:
    endpoints = _sm(ctx).hosting.endpoints
    return _page("Endpoints", *endpoints.list(ctx.account_id, ctx.region, request))
