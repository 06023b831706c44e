"""Athena: SQL over S3 data catalogued in Glue, run by DuckDB in process.

State lives in `<data dir>/athena/athena.db` (workgroups, named queries, prepared statements,
query executions); results are files in S3 (`<OutputLocation>/<id>.csv|.txt`), so executions
and their results survive restarts. Queries run on a small thread pool, never in the request,
one DuckDB session each (see `executions`, `runner`). Tables resolve through the Glue Data
Catalog's in-process API (`env.peer("glue").catalog`) and data is read from S3's storage in
place (`env.peer("s3").object_file`), never over HTTP.

The domain API (in process; errors are `AwsError`s with Athena's codes; every call is scoped
by account and region; requests and answers are Athena's shapes where the API has one):

- `start_query_execution(account, region, request) -> str` (the QueryExecutionId)
- `get_query_execution(account, region, query_id) -> dict` (a QueryExecution)
- `get_query_results(account, region, query_id, max_results=1000, token=None) -> dict`
- `wait(account, region, query_id, timeout=60.0) -> dict` polls until the query ends
- `stop_query_execution`, `list_query_executions`, `batch_get_query_execution`
- workgroups, named queries, prepared statements: `create_work_group(account, region,
  request)`, `get_work_group(account, region, name)`, ... (see the methods)
- catalog reads: `list_databases`, `get_database`, `get_table_metadata`, `list_table_metadata`
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tule.engines.duckdb_engine import DuckDbEngine
from tule.errors import AwsError
from tule.metadata import open_store
from tule.services.athena import catalog_api
from tule.services.athena.copies import ObjectCopies
from tule.services.athena.errors import invalid_request, no_output_location
from tule.services.athena.executions import TERMINAL, Executions, new_query_id
from tule.services.athena.records import decode_token, encode_token
from tule.services.athena.results import ResultStore, datum_rows
from tule.services.athena.reuse import max_age_seconds, reuse_key
from tule.services.athena.runner import QueryJob, QueryRunner
from tule.services.athena.saved_queries import NamedQueries, PreparedStatements
from tule.services.athena.statements import Utility, recognise
from tule.services.athena.workgroups import ENGINE_VERSION, PRIMARY, WorkGroups
from tule.services.base import ServiceEnv

__all__ = ["Athena"]

Shape = dict[str, Any]
QUERY_WORKERS = 4


def _statement_type(sql: str, utility: Utility | None) -> str:
    if utility is not None:
        return "UTILITY" if utility.kind.startswith(("show", "describe")) else "DDL"
    head = sql.lstrip(" \t\r\n(").split(None, 1)[0].upper() if sql.strip() else ""
    return "DDL" if head in ("CREATE", "DROP", "ALTER", "MSCK") else "DML"


def timestamp(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class Athena:
    """The Athena domain."""

    def __init__(self, env: ServiceEnv) -> None:
        env.data_dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.clock = env.clock
        self.store = open_store(str(env.data_dir / "athena.db"), fsync=env.fsync)
        self.workgroups = WorkGroups(self.store, env.clock)
        self.named_queries = NamedQueries(self.store)
        self.prepared = PreparedStatements(self.store, env.clock)
        # Parquet footers are cached across queries: S3 objects are immutable files (an
        # overwrite is a new file), and DuckDB checks a cached footer against the file's mtime.
        self.engine = DuckDbEngine(
            env.data_dir / "engine",
            settings={"integer_division": True, "parquet_metadata_cache": True},
        )
        s3 = env.peer("s3")
        self.results = ResultStore(s3)
        runner = QueryRunner(
            self.engine,
            lambda: env.peer("glue"),
            s3,
            self.results,
            env.data_dir / "scratch",
            ObjectCopies(env.data_dir / "copies"),
        )
        self.executions = Executions(self.store, env.clock, self.engine, runner, QUERY_WORKERS)

    def close(self) -> None:
        self.executions.close()
        self.engine.close()
        self.store.close()

    # -- query executions ---------------------------------------------------------------------

    def start_query_execution(self, account: str, region: str, request: Shape) -> str:
        name = request.get("WorkGroup") or PRIMARY
        workgroup = self.workgroups.get(account, region, name)
        if workgroup.get("State") == "DISABLED":
            raise invalid_request(f"WorkGroup {name} is disabled.")
        config = workgroup.get("Configuration") or {}
        wg_result = config.get("ResultConfiguration") or {}
        asked = request.get("ResultConfiguration") or {}
        enforced = bool(config.get("EnforceWorkGroupConfiguration"))
        result_config = (
            dict(wg_result)
            if enforced and wg_result.get("OutputLocation")
            else {**wg_result, **asked}
        )
        location = result_config.get("OutputLocation")
        if not location:
            raise no_output_location()
        if not location.startswith("s3://"):
            raise invalid_request(f"outputLocation is not a valid S3 path: {location}")
        prefix = location if location.endswith("/") else location + "/"
        context = dict(request.get("QueryExecutionContext") or {})
        sql = request["QueryString"]
        query_id = new_query_id()
        utility = recognise(sql)
        statement_type = _statement_type(sql, utility)
        suffix = ".csv" if statement_type == "DML" else ".txt"
        record: Shape = {
            "QueryExecutionId": query_id,
            "Query": sql,
            "StatementType": statement_type,
            "ResultConfiguration": {**result_config, "OutputLocation": prefix + query_id + suffix},
            "ResultReuseConfiguration": dict(
                request.get("ResultReuseConfiguration")
                or {"ResultReuseByAgeConfiguration": {"Enabled": False}}
            ),
            "QueryExecutionContext": context,
            "Status": {"State": "QUEUED", "SubmissionDateTime": self.clock.time()},
            "WorkGroup": name,
            "EngineVersion": dict(ENGINE_VERSION),
        }
        if request.get("ExecutionParameters"):
            record["ExecutionParameters"] = list(request["ExecutionParameters"])
        job = QueryJob(
            query_id=query_id,
            sql=sql,
            account=account,
            region=region,
            database=(context.get("Database") or "").lower() or None,
            output_prefix=prefix,
            workgroup=name,
            parameters=request.get("ExecutionParameters"),
            prepared=self.prepared,
        )
        if utility is None and not request.get("ExecutionParameters"):
            # Plain statements only: EXECUTE's meaning and parameters' values are not its text.
            job.reuse_key = reuse_key(
                account, region, name, sql, context, {**result_config, "OutputLocation": prefix}
            )
            job.reuse_max_age = max_age_seconds(request.get("ResultReuseConfiguration"))
        return self.executions.start(
            account, region, record, request.get("ClientRequestToken"), job
        )

    def get_query_execution(self, account: str, region: str, query_id: str) -> Shape:
        """The execution; an unfinished one is answered once it ends or after a short hold
        (see `executions`), so tight polling costs the query nothing."""
        record = self.executions.get(account, region, query_id)
        if record["Status"]["State"] not in TERMINAL:
            self.executions.hold(query_id)
            record = self.executions.get(account, region, query_id)
        return _execution_shape(record)

    def wait(self, account: str, region: str, query_id: str, timeout: float = 60.0) -> Shape:
        """Poll until the execution ends (in-process callers: benchmarks, other services)."""
        deadline = time.monotonic() + timeout
        while True:
            execution = self.get_query_execution(account, region, query_id)
            if execution["Status"]["State"] in TERMINAL or time.monotonic() > deadline:
                return execution
            time.sleep(0.002)

    def stop_query_execution(self, account: str, region: str, query_id: str) -> None:
        self.executions.stop(account, region, query_id)

    def list_query_executions(
        self, account: str, region: str, workgroup: str | None, limit: int | None, token: str | None
    ) -> tuple[list[str], str | None]:
        name = workgroup or PRIMARY
        self.workgroups.get(account, region, name)
        return self.executions.list_ids(account, region, name, limit or 50, token)

    def batch_get_query_execution(
        self, account: str, region: str, query_ids: list[str]
    ) -> tuple[list[Shape], list[Shape]]:
        found, missing = [], []
        for query_id in query_ids:
            record = self.executions.find(account, region, query_id)
            if record is None:
                missing.append(
                    {
                        "QueryExecutionId": query_id,
                        "ErrorCode": "INVALID_INPUT",
                        "ErrorMessage": f"QueryExecution {query_id} was not found",
                    }
                )
            else:
                found.append(_execution_shape(record))
        return found, missing

    def get_query_results(
        self,
        account: str,
        region: str,
        query_id: str,
        max_results: int | None = None,
        token: str | None = None,
    ) -> Shape:
        record = self.executions.get(account, region, query_id)
        state = record["Status"]["State"]
        if state in ("QUEUED", "RUNNING"):
            raise invalid_request(
                f"Query has not yet finished. Current state: {state}", "INVALID_INPUT"
            )
        if state != "SUCCEEDED":
            reason = record["Status"].get("StateChangeReason") or ""
            raise invalid_request(
                f"Query did not finish successfully. Final query state: {state}"
                + (f"\n{reason}" if reason else ""),
                "INVALID_INPUT",
            )
        limit = max_results or 1000
        start = 0
        if token:
            start = int(decode_token(token, f"{query_id}:")[len(query_id) + 1 :] or 0)
        result = record.get("_result") or {}
        url = record["ResultConfiguration"]["OutputLocation"]
        try:
            rows = self.results.rows(url)
        except AwsError as err:
            raise invalid_request(
                f"Unable to read the result file {url}: {err.message}", "INVALID_INPUT"
            ) from None
        page = rows[start : start + limit]
        answer: Shape = {
            "ResultSet": {
                "Rows": datum_rows(page),
                "ResultSetMetadata": {"ColumnInfo": result.get("columns") or []},
            }
        }
        if result.get("update_count") is not None:
            answer["UpdateCount"] = result["update_count"]
        elif record.get("StatementType") == "DML":
            answer["UpdateCount"] = 0
        if start + limit < len(rows):
            answer["NextToken"] = encode_token(f"{query_id}:{start + limit}")
        return answer

    # -- workgroups ---------------------------------------------------------------------------

    def create_work_group(self, account: str, region: str, request: Shape) -> None:
        self.workgroups.create(
            account,
            region,
            request["Name"],
            request.get("Configuration"),
            request.get("Description"),
            request.get("Tags"),
        )

    def get_work_group(self, account: str, region: str, name: str) -> Shape:
        record = self.workgroups.get(account, region, name)
        return {k: v for k, v in record.items() if k != "Tags"}

    def list_work_groups(
        self, account: str, region: str, limit: int | None, token: str | None
    ) -> tuple[list[Shape], str | None]:
        page = self.workgroups.list(account, region, limit or 50, token)
        return [
            {
                "Name": r["Name"],
                "State": r.get("State", "ENABLED"),
                "Description": r.get("Description", ""),
                "CreationTime": r.get("CreationTime"),
                "EngineVersion": (r.get("Configuration") or {}).get("EngineVersion")
                or dict(ENGINE_VERSION),
            }
            for _, r in page.items
        ], page.next_token

    def update_work_group(self, account: str, region: str, request: Shape) -> None:
        self.workgroups.update(account, region, request["WorkGroup"], request)

    def delete_work_group(self, account: str, region: str, name: str) -> None:
        self.workgroups.delete(account, region, name)

    # -- named queries and prepared statements ------------------------------------------------

    def create_named_query(self, account: str, region: str, request: Shape) -> str:
        workgroup = request.get("WorkGroup") or PRIMARY
        self.workgroups.get(account, region, workgroup)
        query = {
            "Name": request["Name"],
            "Description": request.get("Description"),
            "Database": request["Database"],
            "QueryString": request["QueryString"],
            "WorkGroup": workgroup,
        }
        return self.named_queries.create(
            account,
            region,
            {k: v for k, v in query.items() if v is not None},
            request.get("ClientRequestToken"),
        )

    def get_named_query(self, account: str, region: str, named_id: str) -> Shape:
        return self.named_queries.get(account, region, named_id)

    def update_named_query(self, account: str, region: str, request: Shape) -> None:
        changes = {k: request.get(k) for k in ("Name", "Description", "QueryString")}
        self.named_queries.update(account, region, request["NamedQueryId"], changes)

    def delete_named_query(self, account: str, region: str, named_id: str) -> None:
        self.named_queries.delete(account, region, named_id)

    def list_named_queries(
        self, account: str, region: str, workgroup: str | None, limit: int | None, token: str | None
    ) -> tuple[list[str], str | None]:
        name = workgroup or PRIMARY
        self.workgroups.get(account, region, name)
        ids = self.named_queries.list_ids(account, region, name)
        start = int(decode_token(token, "nq:")[3:]) if token else 0
        size = limit or 50
        more = start + size < len(ids)
        return ids[start : start + size], encode_token(f"nq:{start + size}") if more else None

    def batch_get_named_query(
        self, account: str, region: str, ids: list[str]
    ) -> tuple[list[Shape], list[Shape]]:
        found, missing = [], []
        for named_id in ids:
            record = self.named_queries.find(account, region, named_id)
            if record is None:
                missing.append(
                    {
                        "NamedQueryId": named_id,
                        "ErrorCode": "INVALID_INPUT",
                        "ErrorMessage": f"NamedQuery {named_id} was not found",
                    }
                )
            else:
                found.append(record)
        return found, missing

    def create_prepared_statement(self, account: str, region: str, request: Shape) -> None:
        workgroup = request["WorkGroup"]
        self.workgroups.get(account, region, workgroup)
        self.prepared.create(
            account,
            region,
            workgroup,
            request["StatementName"],
            request["QueryStatement"],
            request.get("Description"),
        )

    def update_prepared_statement(self, account: str, region: str, request: Shape) -> None:
        self.prepared.update(
            account,
            region,
            request["WorkGroup"],
            request["StatementName"],
            request["QueryStatement"],
            request.get("Description"),
        )

    def get_prepared_statement(self, account: str, region: str, workgroup: str, name: str) -> Shape:
        self.workgroups.get(account, region, workgroup)
        return self.prepared.get(account, region, workgroup, name)

    def delete_prepared_statement(
        self, account: str, region: str, workgroup: str, name: str
    ) -> None:
        self.prepared.delete(account, region, workgroup, name)

    def list_prepared_statements(
        self, account: str, region: str, workgroup: str, limit: int | None, token: str | None
    ) -> tuple[list[Shape], str | None]:
        self.workgroups.get(account, region, workgroup)
        page = self.prepared.list(account, region, workgroup, limit or 50, token)
        return [
            {"StatementName": r["StatementName"], "LastModifiedTime": r["LastModifiedTime"]}
            for _, r in page.items
        ], page.next_token

    # -- the data catalog, as Athena shows it -------------------------------------------------

    def list_databases(self, account: str, region: str, catalog: str) -> list[Shape]:
        return catalog_api.list_databases(self.env.peer("glue"), account, region, catalog)

    def get_database(self, account: str, region: str, catalog: str, name: str) -> Shape:
        return catalog_api.get_database(self.env.peer("glue"), account, region, catalog, name)

    def list_table_metadata(
        self, account: str, region: str, catalog: str, database: str, expression: str | None
    ) -> list[Shape]:
        return catalog_api.list_table_metadata(
            self.env.peer("glue"), account, region, catalog, database, expression
        )

    def get_table_metadata(
        self, account: str, region: str, catalog: str, database: str, name: str
    ) -> Shape:
        return catalog_api.get_table_metadata(
            self.env.peer("glue"), account, region, catalog, database, name
        )


def _execution_shape(record: Shape) -> Shape:
    """A stored record as the QueryExecution shape (private members dropped, times as
    datetimes)."""
    out = {k: v for k, v in record.items() if not k.startswith("_")}
    status = dict(out["Status"])
    for key in ("SubmissionDateTime", "CompletionDateTime"):
        if status.get(key) is not None:
            status[key] = timestamp(status[key])
    out["Status"] = status
    if status["State"] not in TERMINAL:
        out.pop("Statistics", None)
    return out
