"""Athena operation handlers: request shape -> one domain call -> response shape."""

from __future__ import annotations

from typing import Any

from tule.context import RequestContext
from tule.services.athena import Athena, timestamp
from tule.services.athena.catalog_api import DEFAULT_CATALOG, data_catalogs
from tule.services.athena.errors import invalid_request

Request = dict[str, Any]
Response = dict[str, Any]


def _athena(ctx: RequestContext) -> Athena:
    domain: Athena = ctx.service
    return domain


def _where(ctx: RequestContext) -> tuple[str, str]:
    return ctx.account_id, ctx.region


def _with_token(out: Response, token: str | None) -> Response:
    if token:
        out["NextToken"] = token
    return out


# -- query executions -------------------------------------------------------------------------


def start_query_execution(ctx: RequestContext, request: Request) -> Response:
    query_id = _athena(ctx).start_query_execution(*_where(ctx), request)
    return {"QueryExecutionId": query_id}


def get_query_execution(ctx: RequestContext, request: Request) -> Response:
    execution = _athena(ctx).get_query_execution(*_where(ctx), request["QueryExecutionId"])
    return {"QueryExecution": execution}


def get_query_results(ctx: RequestContext, request: Request) -> Response:
    return _athena(ctx).get_query_results(
        *_where(ctx),
        request["QueryExecutionId"],
        request.get("MaxResults"),
        request.get("NextToken"),
    )


def stop_query_execution(ctx: RequestContext, request: Request) -> Response:
    _athena(ctx).stop_query_execution(*_where(ctx), request["QueryExecutionId"])
    return {}


def list_query_executions(ctx: RequestContext, request: Request) -> Response:
    ids, token = _athena(ctx).list_query_executions(
        *_where(ctx), request.get("WorkGroup"), request.get("MaxResults"), request.get("NextToken")
    )
    return _with_token({"QueryExecutionIds": ids}, token)


def batch_get_query_execution(ctx: RequestContext, request: Request) -> Response:
    found, missing = _athena(ctx).batch_get_query_execution(
        *_where(ctx), request["QueryExecutionIds"]
    )
    return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}


# -- workgroups -------------------------------------------------------------------------------


def create_work_group(ctx: RequestContext, request: Request) -> Response:
    _athena(ctx).create_work_group(*_where(ctx), request)
    return {}


def get_work_group(ctx: RequestContext, request: Request) -> Response:
    record = _athena(ctx).get_work_group(*_where(ctx), request["WorkGroup"])
    return {"WorkGroup": {**record, "CreationTime": timestamp(record.get("CreationTime"))}}


def list_work_groups(ctx: RequestContext, request: Request) -> Response:
    groups, token = _athena(ctx).list_work_groups(
        *_where(ctx), request.get("MaxResults"), request.get("NextToken")
    )
    shaped = [{**g, "CreationTime": timestamp(g.get("CreationTime"))} for g in groups]
    return _with_token({"WorkGroups": shaped}, token)


def update_work_group(ctx: RequestContext, request: Request) -> Response:
    _athena(ctx).update_work_group(*_where(ctx), request)
    return {}


def delete_work_group(ctx: RequestContext, request: Request) -> Response:
    _athena(ctx).delete_work_group(*_where(ctx), request["WorkGroup"])
    return {}


# -- named queries ----------------------------------------------------------------------------


def create_named_query(ctx: RequestContext, request: Request) -> Response:
    return {"NamedQueryId": _athena(ctx).create_named_query(*_where(ctx), request)}


def get_named_query(ctx: RequestContext, request: Request) -> Response:
    return {"NamedQuery": _athena(ctx).get_named_query(*_where(ctx), request["NamedQueryId"])}


def update_named_query(ctx: RequestContext, request: Request) -> Response:
    _athena(ctx).update_named_query(*_where(ctx), request)
    return {}


def delete_named_query(ctx: RequestContext, request: Request) -> Response:
    _athena(ctx).delete_named_query(*_where(ctx), request["NamedQueryId"])
    return {}


def list_named_queries(ctx: RequestContext, request: Request) -> Response:
    ids, token = _athena(ctx).list_named_queries(
        *_where(ctx), request.get("WorkGroup"), request.get("MaxResults"), request.get("NextToken")
    )
    return _with_token({"NamedQueryIds": ids}, token)


def batch_get_named_query(ctx: RequestContext, request: Request) -> Response:
    found, missing = _athena(ctx).batch_get_named_query(*_where(ctx), request["NamedQueryIds"])
    return {"NamedQueries": found, "UnprocessedNamedQueryIds": missing}


# -- prepared statements ----------------------------------------------------------------------


def create_prepared_statement(ctx: RequestContext, request: Request) -> Response:
    _athena(ctx).create_prepared_statement(*_where(ctx), request)
    return {}


def update_prepared_statement(ctx: RequestContext, request: Request) -> Response:
    _athena(ctx).update_prepared_statement(*_where(ctx), request)
    return {}


def get_prepared_statement(ctx: RequestContext, request: Request) -> Response:
    record = _athena(ctx).get_prepared_statement(
        *_where(ctx), request["WorkGroup"], request["StatementName"]
    )
    shaped = {**record, "LastModifiedTime": timestamp(record.get("LastModifiedTime"))}
    return {"PreparedStatement": {k: v for k, v in shaped.items() if v is not None}}


def delete_prepared_statement(ctx: RequestContext, request: Request) -> Response:
    _athena(ctx).delete_prepared_statement(
        *_where(ctx), request["WorkGroup"], request["StatementName"]
    )
    return {}


def list_prepared_statements(ctx: RequestContext, request: Request) -> Response:
    items, token = _athena(ctx).list_prepared_statements(
        *_where(ctx), request["WorkGroup"], request.get("MaxResults"), request.get("NextToken")
    )
    shaped = [{**i, "LastModifiedTime": timestamp(i.get("LastModifiedTime"))} for i in items]
    return _with_token({"PreparedStatements": shaped}, token)


# -- the data catalog -------------------------------------------------------------------------


def list_data_catalogs(ctx: RequestContext, request: Request) -> Response:
    return {"DataCatalogsSummary": data_catalogs()}


def get_data_catalog(ctx: RequestContext, request: Request) -> Response:
    if request["Name"].lower() != DEFAULT_CATALOG.lower():
        raise invalid_request(f"Catalog {request['Name']} was not found", "INVALID_INPUT")
    return {
        "DataCatalog": {
            "Name": DEFAULT_CATALOG,
            "Description": "AWS Glue Data Catalog",
            "Type": "GLUE",
            "Parameters": {"catalog-id": ctx.account_id},
        }
    }


def _page(items: list[Any], request: Request, limit_default: int) -> tuple[list[Any], str | None]:
    start = (
        int(request.get("NextToken") or 0) if str(request.get("NextToken") or "0").isdigit() else 0
    )
    size = request.get("MaxResults") or limit_default
    more = start + size < len(items)
    return items[start : start + size], str(start + size) if more else None


def list_databases(ctx: RequestContext, request: Request) -> Response:
    databases = _athena(ctx).list_databases(*_where(ctx), request["CatalogName"])
    page, token = _page(databases, request, 50)
    return _with_token({"DatabaseList": page}, token)


def get_database(ctx: RequestContext, request: Request) -> Response:
    database = _athena(ctx).get_database(
        *_where(ctx), request["CatalogName"], request["DatabaseName"]
    )
    return {"Database": database}


def list_table_metadata(ctx: RequestContext, request: Request) -> Response:
    tables = _athena(ctx).list_table_metadata(
        *_where(ctx), request["CatalogName"], request["DatabaseName"], request.get("Expression")
    )
    page, token = _page(tables, request, 50)
    return _with_token({"TableMetadataList": page}, token)


def get_table_metadata(ctx: RequestContext, request: Request) -> Response:
    table = _athena(ctx).get_table_metadata(
        *_where(ctx), request["CatalogName"], request["DatabaseName"], request["TableName"]
    )
    return {"TableMetadata": table}
