"""Glue operation handlers: request shape -> one domain call -> response shape.

The Data Catalog's handlers are here; crawler handlers live in `crawler_handlers` and are
re-exported at the end. `CatalogId` names the account whose catalog a request addresses; it
defaults to the caller's account.
"""

from __future__ import annotations

from typing import Any

from tule.context import RequestContext
from tule.services.glue import Glue, Segment
from tule.services.glue.errors import invalid_input
from tule.services.glue.records import make_token, read_token
from tule.services.glue.search import SearchRequest
from tule.services.glue.shapes import without_column_schema

Request = dict[str, Any]
Response = dict[str, Any]


def _scope(ctx: RequestContext, request: Request) -> tuple[Glue, str, str]:
    glue: Glue = ctx.service
    return glue, request.get("CatalogId") or ctx.account_id, ctx.region


def _offset_page(
    items: list[Any], max_results: int | None, token: str | None, default: int
) -> tuple[list[Any], str | None]:
    """A page of an already-gathered list, with an offset as the continuation token."""
    start = read_token(token, int) or 0
    end = start + (max_results or default)
    return items[start:end], make_token(end) if end < len(items) else None


def _only(shape: Response, attributes: list[str] | None, members: dict[str, str]) -> Response:
    """The members `AttributesToGet` asks for (`Name` always); everything when not asked."""
    if not attributes or any(a not in members for a in attributes):
        return shape
    keep = {"Name"} | {members[a] for a in attributes}
    return {k: v for k, v in shape.items() if k in keep}


def _with_token(response: Response, token: str | None) -> Response:
    return response if token is None else response | {"NextToken": token}


# Databases


def create_database(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    glue.catalog.create_database(account, region, request["DatabaseInput"], request.get("Tags"))
    return {}


def get_database(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    return {"Database": glue.catalog.get_database(account, region, request["Name"])}


def get_databases(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    databases, token = glue.catalog.get_databases_page(
        account, region, request.get("MaxResults"), request.get("NextToken")
    )
    wanted = request.get("AttributesToGet")
    members = {"NAME": "Name", "TARGET_DATABASE": "TargetDatabase"}
    databases = [_only(d, wanted, members) for d in databases]
    return _with_token({"DatabaseList": databases}, token)


def update_database(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    glue.catalog.update_database(account, region, request["Name"], request["DatabaseInput"])
    return {}


def delete_database(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    glue.catalog.delete_database(account, region, request["Name"])
    return {}


# Tables


def create_table(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    if request.get("OpenTableFormatInput") is not None:
        # An Iceberg table needs its metadata files written to S3, which tule does not do.
        raise invalid_input("OpenTableFormatInput (Iceberg tables) is not supported in tule.")
    table_input = request.get("TableInput")
    if table_input is None:
        raise invalid_input("TableInput is required.")
    glue.catalog.create_table(account, region, request["DatabaseName"], table_input)
    return {}


def get_table(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    table = glue.catalog.get_table(account, region, request["DatabaseName"], request["Name"])
    return {"Table": table}


def get_tables(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    tables, token = glue.catalog.get_tables_page(
        account,
        region,
        request["DatabaseName"],
        request.get("Expression"),
        request.get("MaxResults"),
        request.get("NextToken"),
    )
    members = {"NAME": "Name", "TABLE_TYPE": "TableType"}
    tables = [_only(t, request.get("AttributesToGet"), members) for t in tables]
    return _with_token({"TableList": tables}, token)


def update_table(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    table_input = request.get("TableInput")
    if table_input is None:
        raise invalid_input("TableInput is required.")
    glue.catalog.update_table(
        account,
        region,
        request["DatabaseName"],
        table_input,
        skip_archive=bool(request.get("SkipArchive")),
        version_id=request.get("VersionId"),
    )
    return {}


def delete_table(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    glue.catalog.delete_table(account, region, request["DatabaseName"], request["Name"])
    return {}


def batch_delete_table(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    errors = glue.catalog.batch_delete_table(
        account, region, request["DatabaseName"], request["TablesToDelete"]
    )
    return {"Errors": errors}


def search_tables(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    criteria = SearchRequest(
        search_text=request.get("SearchText"),
        filters=request.get("Filters") or [],
        sort_criteria=request.get("SortCriteria") or [],
    )
    tables = glue.catalog.search_tables(account, region, criteria)
    page, token = _offset_page(tables, request.get("MaxResults"), request.get("NextToken"), 100)
    return _with_token({"TableList": page}, token)


# Table versions


def get_table_versions(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    versions = glue.catalog.get_table_versions(
        account, region, request["DatabaseName"], request["TableName"]
    )
    page, token = _offset_page(versions, request.get("MaxResults"), request.get("NextToken"), 100)
    return _with_token({"TableVersions": page}, token)


def get_table_version(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    version = glue.catalog.get_table_version(
        account, region, request["DatabaseName"], request["TableName"], request.get("VersionId")
    )
    return {"TableVersion": version}


def delete_table_version(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    glue.catalog.delete_table_version(
        account, region, request["DatabaseName"], request["TableName"], request["VersionId"]
    )
    return {}


def batch_delete_table_version(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    errors = glue.catalog.batch_delete_table_version(
        account, region, request["DatabaseName"], request["TableName"], request["VersionIds"]
    )
    return {"Errors": errors}


# Partitions


def create_partition(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    glue.catalog.create_partition(
        account, region, request["DatabaseName"], request["TableName"], request["PartitionInput"]
    )
    return {}


def batch_create_partition(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    errors = glue.catalog.batch_create_partition(
        account,
        region,
        request["DatabaseName"],
        request["TableName"],
        request["PartitionInputList"],
    )
    return {"Errors": errors}


def get_partition(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    partition = glue.catalog.get_partition(
        account, region, request["DatabaseName"], request["TableName"], request["PartitionValues"]
    )
    return {"Partition": partition}


def get_partitions(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    segment = request.get("Segment")
    partitions, token = glue.catalog.get_partitions_page(
        account,
        region,
        request["DatabaseName"],
        request["TableName"],
        expression=request.get("Expression"),
        segment=None if segment is None else Segment(**_segment(segment)),
        max_results=request.get("MaxResults"),
        token=request.get("NextToken"),
    )
    if request.get("ExcludeColumnSchema"):
        partitions = [without_column_schema(p) for p in partitions]
    return _with_token({"Partitions": partitions}, token)


def _segment(segment: Request) -> dict[str, int]:
    return {"number": segment["SegmentNumber"], "total": segment["TotalSegments"]}


def batch_get_partition(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    wanted = [entry["Values"] for entry in request["PartitionsToGet"]]
    partitions = glue.catalog.batch_get_partition(
        account, region, request["DatabaseName"], request["TableName"], wanted
    )
    return {"Partitions": partitions, "UnprocessedKeys": []}


def update_partition(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    glue.catalog.update_partition(
        account,
        region,
        request["DatabaseName"],
        request["TableName"],
        request["PartitionValueList"],
        request["PartitionInput"],
    )
    return {}


def delete_partition(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    glue.catalog.delete_partition(
        account, region, request["DatabaseName"], request["TableName"], request["PartitionValues"]
    )
    return {}


def batch_delete_partition(ctx: RequestContext, request: Request) -> Response:
    glue, account, region = _scope(ctx, request)
    doomed = [entry["Values"] for entry in request["PartitionsToDelete"]]
    errors = glue.catalog.batch_delete_partition(
        account, region, request["DatabaseName"], request["TableName"], doomed
    )
    return {"Errors": errors}


# Tags


def tag_resource(ctx: RequestContext, request: Request) -> Response:
    glue: Glue = ctx.service
    arn = glue.require_taggable(request["ResourceArn"])
    glue.tags.add(arn, request["TagsToAdd"])
    return {}


def untag_resource(ctx: RequestContext, request: Request) -> Response:
    glue: Glue = ctx.service
    arn = glue.require_taggable(request["ResourceArn"])
    glue.tags.remove(arn, request["TagsToRemove"])
    return {}


def get_tags(ctx: RequestContext, request: Request) -> Response:
    glue: Glue = ctx.service
    arn = glue.require_taggable(request["ResourceArn"])
    return {"Tags": glue.tags.get(arn)}


from tule.services.glue.crawler_handlers import (  # noqa: E402, F401 (the handler table looks here)
    batch_get_crawlers,
    create_classifier,
    create_crawler,
    delete_classifier,
    delete_crawler,
    get_classifier,
    get_classifiers,
    get_crawler,
    get_crawler_metrics,
    get_crawlers,
    list_crawlers,
    start_crawler,
    stop_crawler,
    update_classifier,
    update_crawler,
)
