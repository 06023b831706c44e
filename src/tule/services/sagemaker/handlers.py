"""SageMaker operation handlers: request shape -> one domain call -> response shape."""

from __future__ import annotations

from typing import Any

from tule.context import RequestContext
from tule.services.sagemaker import SageMaker
from tule.services.sagemaker.hosting_handlers import (  # noqa: F401 (the handler table looks here)
    create_endpoint,
    create_endpoint_config,
    create_model,
    delete_endpoint,
    delete_endpoint_config,
    delete_model,
    describe_endpoint,
    describe_endpoint_config,
    describe_model,
    list_endpoint_configs,
    list_endpoints,
    list_models,
    update_endpoint,
    update_endpoint_weights_and_capacities,
)
from tule.services.sagemaker.processing_handlers import (  # noqa: F401 (the handler table looks here)
    create_processing_job,
    describe_processing_job,
    list_processing_jobs,
    stop_processing_job,
)
from tule.services.sagemaker.transform_handlers import (  # noqa: F401 (the handler table looks here)
    create_transform_job,
    describe_transform_job,
    list_transform_jobs,
    stop_transform_job,
)

Request = dict[str, Any]
Response = dict[str, Any]


def _sm(ctx: RequestContext) -> SageMaker:
    return ctx.service


def create_training_job(ctx: RequestContext, request: Request) -> Response:
    return {"TrainingJobArn": _sm(ctx).create_training_job(ctx.account_id, ctx.region, request)}


def describe_training_job(ctx: RequestContext, request: Request) -> Response:
    return _sm(ctx).training_jobs.describe(ctx.account_id, ctx.region, request["TrainingJobName"])


def list_training_jobs(ctx: RequestContext, request: Request) -> Response:
    summaries, token = _sm(ctx).training_jobs.list(ctx.account_id, ctx.region, request)
    out: Response = {"TrainingJobSummaries": summaries}
    if token:
        out["NextToken"] = token
    return out


def stop_training_job(ctx: RequestContext, request: Request) -> Response:
    _sm(ctx).training_jobs.stop(ctx.account_id, ctx.region, request["TrainingJobName"])
    return {}


def add_tags(ctx: RequestContext, request: Request) -> Response:
    return {"Tags": _sm(ctx).tags.add(request["ResourceArn"], request["Tags"])}


def list_tags(ctx: RequestContext, request: Request) -> Response:
    tags, token = _sm(ctx).tags.list(
        request["ResourceArn"], request.get("NextToken"), request.get("MaxResults")
    )
    out: Response = {"Tags": tags}
    if token:
        out["NextToken"] = token
    return out


def delete_tags(ctx: RequestContext, request: Request) -> Response:
    _sm(ctx).tags.delete(request["ResourceArn"], request["TagKeys"])
    return {}
