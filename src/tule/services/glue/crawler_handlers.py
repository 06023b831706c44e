"""Glue crawler and classifier operation handlers: request shape -> one domain call -> response.

`handlers.py` imports these so the handler table finds them by operation name.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from tule.context import RequestContext
from tule.services.glue.crawlers import Crawlers
from tule.services.glue.crawlers.errors import invalid_input

Request = dict[str, Any]
Response = dict[str, Any]


def _crawlers(ctx: RequestContext) -> Crawlers:
    crawlers: Crawlers = ctx.service.crawlers
    return crawlers


def _page(items: list[Any], request: Request) -> tuple[list[Any], str | None]:
    """One page of `items` for MaxResults / NextToken (a token is the offset, opaque)."""
    start = 0
    token = request.get("NextToken")
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError):
            raise invalid_input("Invalid pagination token.") from None
    limit = request.get("MaxResults") or 1000
    page = items[start : start + limit]
    if start + limit >= len(items):
        return page, None
    next_token = base64.urlsafe_b64encode(json.dumps({"offset": start + limit}).encode()).decode()
    return page, next_token


def _with_token(response: Response, token: str | None) -> Response:
    if token is not None:
        response["NextToken"] = token
    return response


# Crawlers


def create_crawler(ctx: RequestContext, request: Request) -> Response:
    _crawlers(ctx).create_crawler(ctx.account_id, ctx.region, request)
    return {}


def update_crawler(ctx: RequestContext, request: Request) -> Response:
    _crawlers(ctx).update_crawler(ctx.account_id, ctx.region, request)
    return {}


def delete_crawler(ctx: RequestContext, request: Request) -> Response:
    _crawlers(ctx).delete_crawler(ctx.account_id, ctx.region, request["Name"])
    return {}


def get_crawler(ctx: RequestContext, request: Request) -> Response:
    return {"Crawler": _crawlers(ctx).get_crawler(ctx.account_id, ctx.region, request["Name"])}


def get_crawlers(ctx: RequestContext, request: Request) -> Response:
    crawlers, token = _page(_crawlers(ctx).get_crawlers(ctx.account_id, ctx.region), request)
    return _with_token({"Crawlers": crawlers}, token)


def list_crawlers(ctx: RequestContext, request: Request) -> Response:
    names = _crawlers(ctx).crawler_names(ctx.account_id, ctx.region, request.get("Tags"))
    page, token = _page(names, request)
    return _with_token({"CrawlerNames": page}, token)


def batch_get_crawlers(ctx: RequestContext, request: Request) -> Response:
    crawlers = _crawlers(ctx)
    known = set(crawlers.crawler_names(ctx.account_id, ctx.region))
    wanted = request["CrawlerNames"]
    found = [n for n in wanted if n in known]
    return {
        "Crawlers": [crawlers.get_crawler(ctx.account_id, ctx.region, n) for n in found],
        "CrawlersNotFound": [n for n in wanted if n not in known],
    }


def start_crawler(ctx: RequestContext, request: Request) -> Response:
    _crawlers(ctx).start_crawler(ctx.account_id, ctx.region, request["Name"])
    return {}


def stop_crawler(ctx: RequestContext, request: Request) -> Response:
    _crawlers(ctx).stop_crawler(ctx.account_id, ctx.region, request["Name"])
    return {}


def get_crawler_metrics(ctx: RequestContext, request: Request) -> Response:
    metrics = _crawlers(ctx).crawler_metrics(
        ctx.account_id, ctx.region, request.get("CrawlerNameList")
    )
    page, token = _page(metrics, request)
    return _with_token({"CrawlerMetricsList": page}, token)


# Classifiers


def create_classifier(ctx: RequestContext, request: Request) -> Response:
    _crawlers(ctx).classifiers.create(ctx.account_id, ctx.region, request)
    return {}


def update_classifier(ctx: RequestContext, request: Request) -> Response:
    _crawlers(ctx).classifiers.update(ctx.account_id, ctx.region, request)
    return {}


def delete_classifier(ctx: RequestContext, request: Request) -> Response:
    _crawlers(ctx).classifiers.delete(ctx.account_id, ctx.region, request["Name"])
    return {}


def get_classifier(ctx: RequestContext, request: Request) -> Response:
    return {
        "Classifier": _crawlers(ctx).classifiers.get(ctx.account_id, ctx.region, request["Name"])
    }


def get_classifiers(ctx: RequestContext, request: Request) -> Response:
    page, token = _page(_crawlers(ctx).classifiers.list(ctx.account_id, ctx.region), request)
    return _with_token({"Classifiers": page}, token)
