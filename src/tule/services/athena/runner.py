"""Running one query: from its text to result files in S3 and an outcome for its record.

The runner classifies the statement (utility/DDL recognised by `statements`, everything else
parsed by sqlglot), binds ExecutionParameters or `EXECUTE ... USING` values, and carries it
out: SELECTs run in a DuckDB session over the tables `binding` registered and write
`<id>.csv` (+ `.csv.metadata`); CTAS and INSERT write Parquet (`writes`) and a manifest; DDL and
utility statements act on Glue (`ddl`) and write `<id>.txt`. Engine errors are translated to
Athena's failure texts here.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from tule.engines.duckdb_engine import DuckDbEngine, EngineError, EngineSession
from tule.errors import AwsError
from tule.services.athena import dialect
from tule.services.athena.binding import Catalogs, apply_views, bind_tables, resolve_tables
from tule.services.athena.copies import ObjectCopies
from tule.services.athena.ddl import UTILITY_KINDS, TextResult, create_table, run_utility
from tule.services.athena.errors import (
    DATA_ERROR,
    INTERNAL_ERROR,
    QueryFailed,
    column_not_found,
)
from tule.services.athena.results import ResultStore, column_info, result_url, string_columns
from tule.services.athena.select_cache import Resolution, SelectCache
from tule.services.athena.statements import Utility, recognise
from tule.services.athena.tables import FileReader
from tule.services.athena.views import create_view
from tule.services.athena.writes import create_table_as_select, insert_into, new_scratch

Shape = dict[str, Any]


@dataclass
class Outcome:
    """What a finished query leaves on its record."""

    statement_type: str
    substatement_type: str | None
    result_file: str  # s3:// URL of <id>.csv or <id>.txt
    columns: list[Shape] = field(default_factory=list)
    has_header: bool = False
    scanned_bytes: int = 0
    update_count: int | None = None
    manifest: str | None = None
    reused: bool = False  # an earlier execution's result, returned without running


def _settled() -> None:
    """`before_writes` for a job whose record is already durable."""


@dataclass
class QueryJob:
    """A query to run and where it runs."""

    query_id: str
    sql: str
    account: str
    region: str
    database: str | None
    output_prefix: str
    workgroup: str
    parameters: list[str] | None
    prepared: Any  # PreparedStatements, for EXECUTE
    # Called before the query changes anything (result files, tables, the catalog): the
    # execution may start while its record is still being made durable, and returns or raises
    # once that is settled.
    before_writes: Callable[[], None] = _settled
    # Where this text's SELECT results are found for reuse (None: never reused, e.g. EXECUTE),
    # and how old a reused one may be (None: the query does not ask for reuse).
    reuse_key: str | None = None
    reuse_max_age: float | None = None


class QueryRunner:
    """Runs `QueryJob`s; one engine session per job (its interrupt stops only that job)."""

    def __init__(
        self,
        engine: DuckDbEngine,
        glue: Any,
        s3: Any,
        results: ResultStore,
        scratch: Path,
        copies: ObjectCopies,
    ) -> None:
        self.engine = engine
        self.glue = glue
        self.s3 = s3
        self.results = results
        self.scratch = scratch
        self.copies = copies
        self.selects = SelectCache()
        scratch.mkdir(parents=True, exist_ok=True)

    def run(self, job: QueryJob, session: EngineSession) -> Outcome:
        # Made only by the statements that write files of their own (CTAS, INSERT).
        scratch = new_scratch(self.scratch)
        try:
            catalogs = Catalogs(
                self.glue(),
                FileReader(self.s3, self.copies),
                job.account,
                job.region,
                job.database,
            )
            return self._run(job, session, catalogs, scratch)
        except EngineError as err:
            raise translate(err, job.sql) from None
        except AwsError as err:
            # A peer refused (an S3 object or bucket gone while reading): the query fails.
            raise QueryFailed("HIVE_CANNOT_OPEN_SPLIT", f"{err.code}: {err.message}") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _run(
        self, job: QueryJob, session: EngineSession, catalogs: Catalogs, scratch: Path
    ) -> Outcome:
        sql = job.sql
        parameters = job.parameters
        utility = recognise(sql)
        # A SELECT seen before comes parsed (read-only: see `select_cache`).
        kept = None if utility is not None or parameters else self.selects.tree(sql)
        # The text to cache a SELECT under: the job's own (not an EXECUTE's statement).
        text: str | None = sql if utility is None else None
        tree = kept
        if tree is None and utility is None:
            tree = dialect.parse(sql)
        if not isinstance(tree, exp.Query):
            # Everything but a SELECT waits here, before it acts; a SELECT runs meanwhile and
            # waits only before writing its result files (`_select`).
            job.before_writes()
        if utility is not None and utility.kind == "execute":
            sql, parameters = self._prepared(job, utility)
            utility = recognise(sql)
        if utility is not None:
            result = run_utility(utility, catalogs)
            kind = "UTILITY" if utility.kind in UTILITY_KINDS else "DDL"
            return self._text(job, result, kind, _substatement(utility))
        if tree is None:  # EXECUTE's statement
            tree = dialect.parse(sql)
        if kept is None and (parameters or any(True for _ in tree.find_all(exp.Placeholder))):
            tree = dialect.bind_parameters(tree, list(parameters or []))
            text = None
        if isinstance(tree, exp.Create) and tree.args.get("kind", "").upper() == "TABLE":
            if tree.expression is not None:
                write = create_table_as_select(
                    tree, catalogs, session, job.output_prefix, job.query_id, scratch / "ctas"
                )
                return self._written(
                    job, write.rows, write.files, catalogs, "DDL", "CREATE_TABLE_AS_SELECT"
                )
            return self._text(job, create_table(tree, catalogs), "DDL", "CREATE_TABLE")
        if isinstance(tree, exp.Create) and tree.args.get("kind", "").upper() == "VIEW":
            create_view(tree, sql, catalogs, session)
            return self._text(job, TextResult(), "DDL", "CREATE_VIEW")
        if isinstance(tree, exp.Insert):
            write = insert_into(tree, catalogs, session, scratch / "insert")
            return self._written(job, write.rows, write.files, catalogs, "DML", "INSERT")
        if isinstance(tree, exp.Describe):
            result = run_utility(Utility("describe", name=tree.this.sql()), catalogs)
            return self._text(job, result, "UTILITY", "DESCRIBE")
        if isinstance(tree, exp.Query):
            duck_sql = self._duckdb_sql(job, tree, catalogs, session, text, kept=kept is not None)
            return self._select(job, duck_sql, catalogs, session)
        raise QueryFailed(
            "NOT_SUPPORTED", f"line 1:1: This statement is not supported in tule: {sql[:60]}"
        )

    def _prepared(self, job: QueryJob, utility: Utility) -> tuple[str, list[str]]:
        statement = job.prepared.find(job.account, job.region, job.workgroup, utility.name)
        if statement is None:
            raise QueryFailed(
                "NOT_FOUND", f"line 1:1: Prepared statement not found: {utility.name}"
            )
        values: list[str] = []
        if utility.using:
            holder = dialect.parse(f"SELECT {utility.using}")
            values = [e.sql(dialect=dialect.READ) for e in holder.expressions]
        return statement["QueryStatement"], values

    def _select(
        self, job: QueryJob, sql: str, catalogs: Catalogs, session: EngineSession
    ) -> Outcome:
        """Run the SELECT's DuckDB text and write its result files."""
        # Beside the per-query folders rather than in one: a SELECT then makes no folder.
        local = self.scratch / f"{job.query_id}.csv"
        try:
            written = session.write_csv(sql, local)
            columns = column_info(written.columns)
            job.before_writes()
            url = result_url(job.output_prefix, job.query_id, ".csv")
            self.results.put_result(url, local, columns)
        finally:
            local.unlink(missing_ok=True)
        return Outcome(
            "DML", "SELECT", url, columns, has_header=True, scanned_bytes=catalogs.scanned_bytes
        )

    def _duckdb_sql(
        self,
        job: QueryJob,
        tree: exp.Expression,
        catalogs: Catalogs,
        session: EngineSession,
        text: str | None,
        *,
        kept: bool,
    ) -> str:
        """The query's DuckDB text, bound to its tables' views; through the select cache when
        `text` is given (the text to cache under; None: not cacheable). `kept`: whether `tree`
        is the cache's own, which must not be changed."""
        if text is None:
            return dialect.to_duckdb(bind_tables(tree, catalogs, session), copy=False)
        # Read before binding: a write that lands meanwhile moves it on.
        where = (job.account, job.region, job.database, catalogs.catalog_generation())
        found = self.selects.resolution(text, where) if kept else None
        if found is not None and self._still_current(found, catalogs, session):
            views = list(found.views)
            catalogs.scanned_bytes = found.scanned_bytes
        else:
            found = None
            views = resolve_tables(tree, catalogs, session)
        key = tuple(views)
        cacheable = not catalogs.private_views
        sql = self.selects.translation(text, key) if kept and cacheable else None
        if sql is None:
            # Translation rewrites the tree in place: one the cache keeps (or is to keep) is
            # translated as a copy.
            work = tree.copy() if kept or cacheable else tree
            sql = dialect.to_duckdb(apply_views(work, views), copy=False)
        if cacheable and found is None:
            reader = catalogs.reader
            resolution = Resolution(
                key, catalogs.scanned_bytes, tuple(reader.copied), tuple(reader.generations.items())
            )
            self.selects.remember(text, tree, sql, where, resolution)
        return sql

    def _still_current(self, found: Resolution, catalogs: Catalogs, session: EngineSession) -> bool:
        """Whether a kept binding still holds: its buckets unchanged, its views and object
        copies still there (marked used)."""
        return (
            catalogs.buckets_unchanged(found.buckets)
            and session.keep_views(found.views)
            and self.copies.keep(found.copies)
        )

    def _text(self, job: QueryJob, result: TextResult, kind: str, sub: str | None) -> Outcome:
        url = result_url(job.output_prefix, job.query_id, ".txt")
        self.results.put_text_rows(url, result.rows)
        columns = string_columns(*result.columns) if result.columns else []
        return Outcome(kind, sub, url, columns)

    def _written(
        self, job: QueryJob, rows: int, files: list[str], catalogs: Catalogs, kind: str, sub: str
    ) -> Outcome:
        manifest = result_url(job.output_prefix, job.query_id, "-manifest.csv")
        self.results.put_bytes(manifest, "".join(f + "\n" for f in files).encode(), "text/csv")
        suffix = ".txt" if kind == "DDL" else ".csv"
        url = result_url(job.output_prefix, job.query_id, suffix)
        self.results.put_text_rows(url, [])
        return Outcome(
            kind,
            sub,
            url,
            [],
            scanned_bytes=catalogs.scanned_bytes,
            update_count=rows,
            manifest=manifest,
        )


def _substatement(utility: Utility) -> str:
    return {
        "show_tables": "SHOW_TABLES",
        "show_databases": "SHOW_DATABASES",
        "show_partitions": "SHOW_PARTITIONS",
        "show_columns": "SHOW_COLUMNS",
        "show_create_table": "SHOW_CREATE_TABLE",
        "show_tblproperties": "SHOW_TBLPROPERTIES",
        "describe": "DESCRIBE_TABLE",
        "create_database": "CREATE_DATABASE",
        "drop_database": "DROP_DATABASE",
        "drop_table": "DROP_TABLE",
        "msck_repair": "REPAIR_TABLE",
        "add_partition": "ALTER_TABLE_ADD_PARTITION",
        "drop_partition": "ALTER_TABLE_DROP_PARTITION",
        "drop_view": "DROP_VIEW",
        "show_views": "SHOW_VIEWS",
        "show_create_view": "SHOW_CREATE_VIEW",
    }.get(utility.kind, utility.kind.upper())


def _position_of(word: str, sql: str) -> tuple[int, int]:
    match = re.search(rf"(?<![\w\"]){re.escape(word)}(?![\w])|\"{re.escape(word)}\"", sql, re.I)
    if match is None:
        return 1, 1
    before = sql[: match.start()]
    return before.count("\n") + 1, match.start() - (before.rfind("\n") + 1) + 1


def translate(err: EngineError, sql: str) -> QueryFailed:
    """An engine error as Athena states it."""
    message = err.message.split("\n")[0].strip()
    if err.kind == "interrupted":
        return QueryFailed("", "Query cancelled by user", category=2)
    function = re.search(r"Function with name (\w+) does not exist", message)
    if function is not None and err.kind in ("binder", "catalog"):
        line, col = _position_of(function.group(1), sql)
        return QueryFailed(
            "FUNCTION_NOT_FOUND",
            f"line {line}:{col}: Function '{function.group(1)}' not registered",
        )
    if err.kind == "binder":
        column = re.search(r'Referenced column "([^"]+)" not found', message)
        if column is not None:
            line, col = _position_of(column.group(1), sql)
            return column_not_found(column.group(1), line, col)
        if (
            "No function matches" in message
            or "Cannot compare" in message
            or "Cannot mix" in message
        ):
            return QueryFailed("TYPE_MISMATCH", f"line 1:1: {message}")
        return QueryFailed("SYNTAX_ERROR", f"line 1:1: {message}")
    if err.kind == "parser":
        return QueryFailed("SYNTAX_ERROR", f"line 1:1: {message}")
    if err.kind == "catalog":
        return QueryFailed("SYNTAX_ERROR", f"line 1:1: {message}")
    if err.kind == "conversion":
        return QueryFailed("INVALID_CAST_ARGUMENT", message, error_type=DATA_ERROR)
    if err.kind == "io":
        return QueryFailed("HIVE_CURSOR_ERROR", message, error_type=DATA_ERROR)
    return QueryFailed("GENERIC_INTERNAL_ERROR", message, category=1, error_type=INTERNAL_ERROR)
