"""How catalog entries are kept in the MetadataStore: their keys, and timestamps as numbers.

Keys (ordered by their bytes, so a prefix lists one database's tables, one table's versions or
partitions, in name order):

    database/<account>/<region>/<database>
    table/<account>/<region>/<database>SEP<table>
    version/<account>/<region>/<database>SEP<table>SEP<version, zero-padded>
    partition/<account>/<region>/<database>SEP<table>SEP<value 1>SEP<value 2>...
    tags/<arn>

SEP is U+0001: Glue's name pattern admits no control character but tab, so a SEP ends every
name, and it sorts below every character a name may hold. Records are the AWS shapes
themselves (`Database`, `Table`, `Partition`) with their timestamps stored as epoch seconds;
`decode` turns them back into datetimes for callers.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from tule.services.glue.errors import invalid_input, invalid_token

SEP = "\x01"

# The top-level timestamp members of Database, Table and Partition (botocore's glue model).
TIMESTAMPS = ("CreateTime", "UpdateTime", "LastAccessTime", "LastAnalyzedTime", "CreationTime")


def database_key(account: str, region: str, name: str) -> str:
    return f"database/{account}/{region}/{name}"


def databases_prefix(account: str, region: str) -> str:
    return f"database/{account}/{region}/"


def table_key(account: str, region: str, database: str, name: str) -> str:
    return f"table/{account}/{region}/{database}{SEP}{name}"


def tables_prefix(account: str, region: str, database: str | None = None) -> str:
    """Every table of `database`, or of the whole catalog when it is None."""
    base = f"table/{account}/{region}/"
    return base if database is None else f"{base}{database}{SEP}"


def versions_prefix(account: str, region: str, database: str, table: str) -> str:
    return f"version/{account}/{region}/{database}{SEP}{table}{SEP}"


def version_key(account: str, region: str, database: str, table: str, version: int) -> str:
    # Zero-padded so the byte order of keys is the numeric order of versions.
    return f"{versions_prefix(account, region, database, table)}{version:012d}"


def partitions_prefix(account: str, region: str, database: str, table: str) -> str:
    return f"partition/{account}/{region}/{database}{SEP}{table}{SEP}"


def scoped_prefix(kind: str, account: str, region: str, database: str) -> str:
    """Every `kind` record ("table", "version", "partition") under one database."""
    return f"{kind}/{account}/{region}/{database}{SEP}"


def partition_suffix(values: list[str]) -> str:
    for value in values:
        if SEP in value:
            raise invalid_input("Partition values may not contain control characters.")
    return SEP.join(values)


def tags_key(arn: str) -> str:
    return f"tags/{arn}"


def encode(shape: dict[str, Any]) -> dict[str, Any]:
    """An AWS shape as a JSON record: top-level datetimes become epoch seconds."""
    out = dict(shape)
    for name in TIMESTAMPS:
        value = out.get(name)
        if isinstance(value, datetime):
            out[name] = value.timestamp()
    return out


def decode(record: dict[str, Any]) -> dict[str, Any]:
    """The AWS shape a record holds, with datetimes again."""
    out = dict(record)
    for name in TIMESTAMPS:
        value = out.get(name)
        if isinstance(value, int | float):
            out[name] = datetime.fromtimestamp(value, UTC)
    return out


def make_token(position: str | int) -> str:
    """An opaque NextToken holding where a listing stopped (a key suffix or an offset)."""
    raw = json.dumps({"p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def read_token(token: str | None, kind: type) -> Any:
    """The position a NextToken from `make_token` holds; InvalidInputException if it is not one."""
    if token is None:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))["p"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid_token() from None
    if not isinstance(position, kind) or isinstance(position, bool):
        raise invalid_token()
    return position
