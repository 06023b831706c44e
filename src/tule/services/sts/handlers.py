"""STS operation handlers."""

from __future__ import annotations

from tule.context import RequestContext
from tule.services.sts import STS


def get_caller_identity(ctx: RequestContext, request: dict) -> dict:
    sts: STS = ctx.service
    who = sts.caller_identity(ctx.access_key_id)
    return {"UserId": who.user_id, "Account": who.account, "Arn": who.arn}
