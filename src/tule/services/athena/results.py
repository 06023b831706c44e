"""Result files in S3 and the GetQueryResults pages read back from them.

Athena writes a query's rows to `<OutputLocation>/<QueryExecutionId>.csv` (DML: a header row,
every field double-quoted, NULL as an empty unquoted field, `\\n` line ends) or `<id>.txt`
(DDL and utility statements: one row per line, fields separated by tabs), plus
`<id>.csv.metadata` beside a CSV. GetQueryResults pages through the same file, so results
survive a restart: for SELECT the first row of the first page is the header (the column labels),
later pages do not repeat it; every value is a string and NULL is a Datum without
`VarCharValue`. Parsed files are kept in a small cache so paging a large result does not
re-read it for every page.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tule.engines.duckdb_types import TrinoColumn
from tule.errors import AwsError
from tule.services.athena.errors import RESULT_WRITE_ERROR, QueryFailed
from tule.services.athena.tables import split_s3
from tule.wire import Verbatim

Row = list[str | None]

_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^,\n"]*)')


def parse_csv(text: str) -> list[Row]:
    """Rows of an Athena result CSV; an unquoted empty field is NULL, `""` an empty string."""
    if '""' not in text:
        # No empty string and no escaped quote anywhere, so every empty field is a NULL and
        # the C reader gives the same rows (about 5x faster on a large result); it reads a
        # one-column NULL (an empty line) as no field at all.
        return [
            [v if v else None for v in row] if row else [None]
            for row in csv.reader(io.StringIO(text))
        ]
    rows: list[Row] = []
    pos, end = 0, len(text)
    while pos < end:
        row: Row = []
        while True:
            match = _FIELD.match(text, pos)
            assert match is not None  # the pattern matches the empty string too
            quoted, bare = match.group(1), match.group(2)
            if quoted is not None:
                row.append(quoted.replace('""', '"'))
            else:
                row.append(bare if bare else None)
            pos = match.end()
            if pos >= end or text[pos] == "\n":
                pos += 1
                break
            pos += 1  # the comma
        rows.append(row)
    return rows


def column_info(columns: list[TrinoColumn]) -> list[dict[str, Any]]:
    """ColumnInfo as Athena fills it (the values observed on real result sets)."""
    return [
        {
            "CatalogName": "hive",
            "SchemaName": "",
            "TableName": "",
            "Name": c.name,
            "Label": c.name,
            "Type": c.type,
            "Precision": c.precision,
            "Scale": c.scale,
            "Nullable": "UNKNOWN",
            "CaseSensitive": c.case_sensitive,
        }
        for c in columns
    ]


def string_columns(*names: str) -> list[dict[str, Any]]:
    """ColumnInfo of a utility statement's text result (Hive's `string` columns)."""
    return [
        {
            "CatalogName": "hive",
            "SchemaName": "",
            "TableName": "",
            "Name": name,
            "Label": name,
            "Type": "string",
            "Precision": 0,
            "Scale": 0,
            "Nullable": "UNKNOWN",
            "CaseSensitive": False,
        }
        for name in names
    ]


def result_url(output_prefix: str, query_id: str, suffix: str) -> str:
    base = output_prefix if output_prefix.endswith("/") else output_prefix + "/"
    return f"{base}{query_id}{suffix}"


class ResultStore:
    """Writes result files through S3's in-process API and reads them back, cached."""

    def __init__(self, s3: Any, cache_entries: int = 16) -> None:
        self.s3 = s3
        self._cache: OrderedDict[str, list[Row]] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_entries = cache_entries

    def put_result(self, url: str, path: Path, columns: list[dict[str, Any]]) -> None:
        """A SELECT's `<id>.csv` from the file at `path` (taken over: gone afterwards) and its
        `<id>.csv.metadata`, written together (one commit: both appear at once, one flush)."""
        bucket, key = split_s3(url)
        # Athena's .metadata is an opaque binary; clients read only the CSV, so ours holds the
        # column descriptions as JSON.
        metadata = json.dumps({"ColumnInfo": columns}).encode()
        objects = [
            (key, path, "text/csv"),  # S3 takes the file over (moved, not copied)
            (key + ".metadata", metadata, "application/octet-stream"),
        ]
        self._write(bucket, url, lambda: self.s3.write_objects(bucket, objects))

    def put_bytes(self, url: str, data: bytes, content_type: str) -> None:
        bucket, key = split_s3(url)
        self._write(bucket, url, lambda: self.s3.write_object(bucket, key, data, content_type))

    def _write(self, bucket: str, url: str, write: Callable[[], object]) -> None:
        """Run `write`; S3's refusal becomes the query's failure, as Athena words it."""
        try:
            write()
        except AwsError as err:
            raise QueryFailed(
                "",
                f"Unable to verify/create output bucket {bucket}"
                if err.code == "NoSuchBucket"
                else f"Error writing query results to {url}: {err.message}",
                error_type=RESULT_WRITE_ERROR,
            ) from None

    def put_text_rows(self, url: str, rows: list[list[str]]) -> None:
        text = "".join("\t".join(row) + "\n" for row in rows)
        self.put_bytes(url, text.encode(), "text/plain")
        with self._lock:
            self._remember(url, [list(r) for r in rows])

    def exists(self, url: str) -> bool:
        """Whether the result file is still there (readable) in S3."""
        bucket, key = split_s3(url)
        try:
            self.s3.object_body(bucket, key)
        except AwsError:
            return False
        return True

    def rows(self, url: str) -> list[Row]:
        """Every row of a result file (a CSV's header included)."""
        with self._lock:
            cached = self._cache.get(url)
            if cached is not None:
                self._cache.move_to_end(url)
                return cached
        bucket, key = split_s3(url)
        data = b"".join(self.s3.read_object(bucket, key)).decode("utf-8")
        if url.endswith(".csv"):
            parsed = parse_csv(data)
        else:
            parsed = [line.split("\t") for line in data.split("\n")[:-1]] if data else []
            parsed = [[v for v in row] for row in parsed]
        with self._lock:
            self._remember(url, parsed)
        return parsed

    def _remember(self, url: str, rows: list[Any]) -> None:
        self._cache[url] = rows
        self._cache.move_to_end(url)
        while len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)


def datum_rows(rows: list[Row]) -> Verbatim:
    """GetQueryResults' `Rows`, already as the wire writes them (a page holds up to a thousand
    rows: converting them again against the shape took longer than building them)."""
    return Verbatim(
        {"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows
    )
