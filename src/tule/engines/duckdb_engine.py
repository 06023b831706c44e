"""The DuckDB port: one in-process database, a session (connection) per query.

`DuckDbEngine` owns an in-memory DuckDB database shared by all sessions; each `EngineSession`
is a connection of its own (temporary views and registered Arrow tables are private to it, and
`interrupt` cancels only its query). Sessions run in UTC, as Athena does.

The port speaks plain SQL (DuckDB's dialect) and `TableSource`s; it knows nothing of AWS. Errors
come out as `EngineError` with a `kind` the caller maps onto its own error vocabulary:
`parser`, `binder` (unknown column or function, type mismatch at bind time), `catalog`,
`conversion`, `interrupted`, `io` or `other`.

Tables are scanned through views: `register_table` makes one private to the session;
`scan_view` hands out one shared by all sessions over files that never change in place (see
`duckdb_shared`), which a later query reuses without a statement.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from tule.engines.duckdb_render import rendered
from tule.engines.duckdb_shared import SharedViews, identity
from tule.engines.duckdb_sources import DataFile, TableSource, scan_sql
from tule.engines.duckdb_types import TrinoColumn, quote_identifier, trino_column


class EngineError(Exception):
    """A query the engine could not run."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


_KINDS = (
    ("ParserException", "parser"),
    ("BinderException", "binder"),
    ("CatalogException", "catalog"),
    ("ConversionException", "conversion"),
    ("InvalidInputException", "conversion"),
    ("OutOfRangeException", "conversion"),
    ("InterruptException", "interrupted"),
    ("IOException", "io"),
    ("HTTPException", "io"),
)


def _engine_error(exc: Exception) -> EngineError:
    name = type(exc).__name__
    kind = next((k for cls, k in _KINDS if cls == name), "other")
    message = str(exc)
    # DuckDB prefixes messages with the error class ("Binder Error: ..."); callers want the text.
    head, sep, rest = message.partition(": ")
    if sep and head.endswith("Error"):
        message = rest
    return EngineError(kind, message.strip())


@dataclass(frozen=True)
class CsvOutput:
    """What writing a result set produced: its columns (Trino-named) and its row count."""

    columns: list[TrinoColumn]
    duck_types: list[str]
    rows: int


class EngineSession:
    """One connection: register tables, run one query, interrupt it from another thread."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        workdir: Path,
        shared: SharedViews | None = None,
    ) -> None:
        self.con = con
        self.workdir = workdir
        self._shared = shared
        # Set once the session names anything of its own (a private view, a registered Arrow
        # table, a statement run through `execute`): its queries' texts then mean this session
        # alone, and their result columns are not shared.
        self._private = False
        self._lock = threading.Lock()
        self._closed = False
        self._interrupted = False
        self._executing = threading.Event()

    def _run(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        if self._interrupted:
            raise EngineError("interrupted", "Query interrupted")
        self._executing.set()
        try:
            return self.con.execute(sql, params) if params else self.con.execute(sql)
        except duckdb.Error as exc:
            raise _engine_error(exc) from exc
        finally:
            self._executing.clear()

    def register_table(self, view: str, source: TableSource) -> TableSource:
        """Make `view` scan `source`; returns the source with its files' columns filled in."""
        self._private = True
        kind = source.format.kind
        if kind == "parquet" and source.files:
            paths = [f.path for f in source.files]
            source = _with_file_columns(
                source, self._describe_parquet(paths), self._same_schema(paths)
            )
        arrow_names: dict[str, str] = {}
        if kind == "orc":
            source = self._register_orc(source, arrow_names)
        sql = scan_sql(source, lambda f: arrow_names[f.path])
        self._run(f"CREATE OR REPLACE TEMP VIEW {quote_identifier(view)} AS {sql}")
        return source

    def scan_view(self, source: TableSource, private_name: str) -> str:
        """The name of a view that scans `source`, shared with later sessions when its files
        never change in place (S3 objects); ORC sources, whose Arrow tables belong to this
        connection, and unreadable files get a private view named `private_name`."""
        shared = self._shared
        files = identity([f.path for f in source.files])
        if shared is None or files is None or source.format.kind == "orc":
            self.register_table(private_name, source)
            return private_name
        if source.format.kind == "parquet" and source.files:
            paths = [f.path for f in source.files]
            described = shared.described(files, lambda: self._describe_parquet(paths))
            same = shared.same_schema(files, lambda: self._same_schema(paths))
            source = _with_file_columns(source, described, same)
        sql = scan_sql(source)
        return shared.view(
            sql,
            lambda name: self._run(f"CREATE OR REPLACE VIEW {quote_identifier(name)} AS {sql}"),
            self._drop_view,
        )

    def define_view(self, name: str, sql: str, columns: list[str] | None = None) -> None:
        """A view of this session's own over a query, its columns renamed when given."""
        self._private = True
        names = "(" + ", ".join(quote_identifier(c) for c in columns) + ")" if columns else ""
        self._run(f"CREATE OR REPLACE TEMP VIEW {quote_identifier(name)}{names} AS {sql}")

    def keep_views(self, names: Iterable[str]) -> bool:
        """Whether shared views named by an earlier `scan_view` all still exist (marking them
        used); never for private ones, which die with their session."""
        return self._shared is not None and self._shared.keep(names)

    def _describe_parquet(self, paths: list[str]) -> list[tuple[str, str]]:
        rows = self._run(
            "DESCRIBE SELECT * FROM read_parquet(?, union_by_name=true)", [paths]
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def _same_schema(self, paths: list[str]) -> bool:
        """Whether the Parquet files all have one schema: the same columns (nested ones too)
        with the same DuckDB types in the same order, whatever each writer named its root."""
        if len(paths) < 2:
            return True
        rows = self._run(
            "SELECT count(DISTINCT s) FROM (SELECT list((name, duckdb_type, num_children) "
            "ORDER BY column_id) AS s FROM parquet_schema(?) WHERE column_id > 0 "
            "GROUP BY file_name)",
            [paths],
        ).fetchall()
        return int(rows[0][0]) <= 1

    def _drop_view(self, name: str) -> None:
        # An interrupted session cannot drop it: the view stays, unused, until the engine closes.
        with contextlib.suppress(EngineError):
            self._run(f"DROP VIEW IF EXISTS {quote_identifier(name)}")

    def _register_orc(self, source: TableSource, names: dict[str, str]) -> TableSource:
        from pyarrow import orc

        seen: list[tuple[str, str]] = []
        for f in source.files:
            try:
                table = orc.read_table(f.path)
            except Exception as exc:  # pyarrow raises several types for bad files
                raise EngineError("io", f"Error reading ORC file: {exc}") from exc
            name = f"__orc_{uuid.uuid4().hex}"
            self.con.register(name, table)
            names[f.path] = name
            described = self._run(f"DESCRIBE SELECT * FROM {quote_identifier(name)}").fetchall()
            seen.extend((r[0], r[1]) for r in described)
        return _with_file_columns(source, seen)

    def describe(self, sql: str) -> list[tuple[str, str]]:
        """The (name, DuckDB type) of each column the query yields, without running it."""
        rows = self._run(f"DESCRIBE {sql}").fetchall()
        return [(r[0], r[1]) for r in rows]

    def fetch(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self._run(sql, params).fetchall()

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        self._private = True
        self._run(sql, params)

    def write_csv(self, sql: str, path: Path) -> CsvOutput:
        """Run the query and write its rows as Athena writes result files: a header, every
        field double-quoted, NULL as an empty unquoted field, `\\n` line ends."""
        if self._shared is None or self._private:
            described = self.describe(sql)
        else:
            described = self._shared.result_columns(sql, lambda: self.describe(sql))
        columns = [trino_column(n, t) for n, t in described]
        # Columns may repeat (`SELECT 1, 1`): address them by position, then name them back.
        aliases = ", ".join(quote_identifier(f"c{i}") for i in range(len(described)))
        projection = ", ".join(
            f"{rendered(quote_identifier(f'c{i}'), t)} AS {quote_identifier(n)}"
            for i, (n, t) in enumerate(described)
        )
        inner = f"SELECT * FROM ({sql}) AS __q({aliases})"
        copy = (
            f"COPY (SELECT {projection} FROM ({inner})) TO {_sql_path(path)} "
            "(FORMAT csv, HEADER true, FORCE_QUOTE *, NEW_LINE '\\n')"
        )
        result = self._run(copy).fetchall()
        count = int(result[0][0]) if result and result[0] else 0
        return CsvOutput(columns, [t for _, t in described], count)

    def write_files(
        self,
        sql: str,
        directory: Path,
        partitioned_by: list[str],
        options: Iterable[str],
        suffix: str,
    ) -> int:
        """Run the query and write its rows under `directory` with DuckDB's COPY `options`
        (format, compression, ...): one file named `<random><suffix>`, or Hive-style
        `key=value` sub-folders when partitioned. Returns the row count."""
        directory.mkdir(parents=True, exist_ok=True)
        copy = list(options)
        if partitioned_by:
            keys = ", ".join(quote_identifier(k) for k in partitioned_by)
            copy.append(f"PARTITION_BY ({keys})")
            copy.append(f"FILENAME_PATTERN '{uuid.uuid4().hex}_{{i}}'")
            target = directory
        else:
            target = directory / f"{uuid.uuid4().hex}{suffix}"
        result = self._run(f"COPY ({sql}) TO {_sql_path(target)} ({', '.join(copy)})")
        rows = result.fetchall()
        return int(rows[0][0]) if rows and rows[0] else 0

    def interrupt(self) -> None:
        """Stop the running statement and refuse later ones. DuckDB clears an interrupt when
        a statement starts, so one that lands just before is repeated for a short while."""
        self._interrupted = True
        for _ in range(50):
            with self._lock:
                if self._closed:
                    return
                self.con.interrupt()
            if not self._executing.wait(0.005):
                return
            time.sleep(0.005)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self.con.close()


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _sql_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _with_file_columns(
    source: TableSource, columns: list[tuple[str, str]], same_schema: bool = False
) -> TableSource:
    found: dict[str, tuple[str, str]] = {}
    for name, duck_type in columns:
        found.setdefault(name.lower(), (name, duck_type))
    return TableSource(
        source.columns, source.partition_keys, source.format, source.groups, found, same_schema
    )


class DuckDbEngine:
    """The shared DuckDB database; `session()` opens a connection for one query."""

    def __init__(
        self,
        workdir: Path,
        *,
        threads: int | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._config: dict[str, Any] = {"threads": threads} if threads else {}
        self._settings = dict(settings or {})
        # Opened on the first query (~20 ms with ICU): a server that runs none never pays it.
        self._db: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self._shared = SharedViews()

    def _open(self) -> duckdb.DuckDBPyConnection:
        db = duckdb.connect(":memory:", config=self._config)
        try:
            # Athena evaluates timestamps in UTC; ICU (bundled) owns DuckDB's time zones.
            db.execute("LOAD icu")
            db.execute("SET GLOBAL TimeZone = 'UTC'")
        except duckdb.Error:
            pass
        for name, value in self._settings.items():
            db.execute(f"SET GLOBAL {name} = {_sql_value(value)}")
        return db

    def session(self) -> EngineSession:
        with self._lock:
            if self._db is None:
                self._db = self._open()
            con = self._db.cursor()
        return EngineSession(con, self.workdir, self._shared)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


__all__ = [
    "CsvOutput",
    "DataFile",
    "DuckDbEngine",
    "EngineError",
    "EngineSession",
    "TableSource",
]
