"""SageMaker Runtime operation handlers."""

from __future__ import annotations

from typing import Any

from tule.context import RequestContext

Request = dict[str, Any]
Response = dict[str, Any]


async def invoke_endpoint(ctx: RequestContext, request: Request) -> Response:
    # A coroutine: the gateway runs it on its event loop, as it only waits on a model server.
    return await ctx.service.invoke_endpoint(ctx.account_id, ctx.region, request)


def invoke_endpoint_async(ctx: RequestContext, request: Request) -> Response:
    return ctx.service.invoke_endpoint_async(ctx.account_id, ctx.region, request)
