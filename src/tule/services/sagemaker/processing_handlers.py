"""SageMaker processing-job handlers: request shape -> one domain call -> response shape.

Re-exported by `handlers`, where the handler table looks operations up by name.
"""

from __future__ import annotations

from typing import Any

from tule.context import RequestContext
from tule.services.sagemaker import SageMaker

Request = dict[str, Any]
Response = dict[str, Any]


def _sm(ctx: RequestContext) -> SageMaker:
    return ctx.service


def create_processing_job(ctx: RequestContext, request: Request) -> Response:
    arn = _sm(ctx).create_processing_job(ctx.account_id, ctx.region, request)
    return {"ProcessingJobArn": arn}


def describe_processing_job(ctx: RequestContext, request: Request) -> Response:
    return _sm(ctx).processing_jobs.describe(
        ctx.account_id, ctx.region, request["ProcessingJobName"]
    )


def list_processing_jobs(ctx: RequestContext, request: Request) -> Response:
    summaries, token = _sm(ctx).processing_jobs.list(ctx.account_id, ctx.region, request)
    out: Response = {"ProcessingJobSummaries": summaries}
    if token:
        out["NextToken"] = token
    return out


def stop_processing_job(ctx: RequestContext, request: Request) -> Response:
    _sm(ctx).processing_jobs.stop(ctx.account_id, ctx.region, request["ProcessingJobName"])
    return {}
