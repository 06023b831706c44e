"""Query result reuse (`ResultReuseConfiguration`): which earlier result a query may return
instead of running.

As Athena documents it: a query that enables reuse gets the result of the newest earlier
execution in the same workgroup with the same query text, database and catalog and the same
result configuration, if that execution succeeded no longer ago than `MaxAgeInMinutes` (60 by
default, at most 10080) and its result file is still where it was written. Only SELECTs are
reused (not EXECUTE, whose prepared statement may have changed under the same text), and the
source data is not checked: a reused result may be stale, by design. The new execution points
at the earlier result file, scans nothing and says `ReusedPreviousResult: true`.

Every succeeding SELECT leaves a pointer under its reuse key (`u/{account}/{region}/
{workgroup}/{digest}` -> its execution id) in the commit that ends it, so a lookup is one read
and survives restarts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from tule.metadata.base import MetadataStore
from tule.services.athena.records import Record, scope

DEFAULT_MAX_AGE_MINUTES = 60


def reuse_key(
    account: str,
    region: str,
    workgroup: str,
    sql: str,
    context: dict[str, Any],
    result_config: dict[str, Any],
) -> str:
    """Where executions of this text, in this context and result configuration, are found."""
    database = (context.get("Database") or "").lower()
    catalog = (context.get("Catalog") or "AwsDataCatalog").lower()
    digest = hashlib.sha256(
        json.dumps([sql, database, catalog, result_config], sort_keys=True).encode()
    ).hexdigest()
    return f"{scope('u', account, region)}{workgroup}/{digest}"


def max_age_seconds(config: dict[str, Any] | None) -> float | None:
    """How old a reused result may be, or None when the request does not enable reuse."""
    by_age = (config or {}).get("ResultReuseByAgeConfiguration") or {}
    if not by_age.get("Enabled"):
        return None
    return 60.0 * float(by_age.get("MaxAgeInMinutes", DEFAULT_MAX_AGE_MINUTES))


def reusable(
    store: MetadataStore,
    key: str,
    execution_key: Callable[[str], str],
    max_age: float,
    now: float,
    exists: Callable[[str], bool],
) -> Record | None:
    """The earlier execution whose result may be returned, if there is one."""
    pointer = store.get(key)
    if pointer is None:
        return None
    record = store.get(execution_key(str(pointer["id"])))
    if record is None or record["Status"]["State"] != "SUCCEEDED":
        return None
    if now - float(record["Status"].get("CompletionDateTime") or 0) > max_age:
        return None
    url = record["ResultConfiguration"]["OutputLocation"]
    return record if exists(url) else None
