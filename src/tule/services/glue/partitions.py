"""A table's partitions: created, read, filtered by expression and segment, updated, deleted.

A partition is keyed by its table and its `Values` (see `records`), so its identity is the
values in PartitionKeys order. Writes share the catalog's lock, which makes "the table exists
and the partition does not" and the write one step. GetPartitions' `Segment` splits a table's
partitions by a hash of their values: stable while partitions come and go, disjoint, and
together they cover the table, which is what parallel readers need.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tule.clock import Clock
from tule.errors import AwsError
from tule.metadata import MetadataStore
from tule.metadata.base import Delete, Put
from tule.services.glue import records
from tule.services.glue.errors import (
    error_detail,
    invalid_input,
    partition_exists,
    partition_not_found,
    partition_values_mismatch,
)
from tule.services.glue.expressions import Predicate, compile_expression
from tule.services.glue.shapes import Shape, new_partition, partition_keys

DEFAULT_PAGE = 1000

GetTable = Callable[[str, str, str, str], Shape]


@dataclass(frozen=True)
class Segment:
    """GetPartitions' Segment: this reader's share (`number`) of `total` disjoint shares."""

    number: int
    total: int

    def __post_init__(self) -> None:
        if not 0 <= self.number < self.total:
            raise invalid_input(
                f"SegmentNumber {self.number} must be less than TotalSegments {self.total}."
            )

    def holds(self, suffix: str) -> bool:
        return zlib.crc32(suffix.encode()) % self.total == self.number


def _error(values: list[str], error: AwsError) -> Shape:
    return {"PartitionValues": values, "ErrorDetail": error_detail(error)}


class PartitionCatalog:
    """Partitions of every table, in the catalog's store and under its write lock."""

    def __init__(
        self, store: MetadataStore, clock: Clock, lock: threading.Lock, get_table: GetTable
    ) -> None:
        self.store = store
        self.clock = clock
        self.lock = lock
        self.get_table = get_table

    def _key(self, account: str, region: str, table: Shape, values: list[str]) -> str:
        if len(values) != len(table.get("PartitionKeys") or []):
            raise partition_values_mismatch()
        prefix = records.partitions_prefix(account, region, table["DatabaseName"], table["Name"])
        return prefix + records.partition_suffix(values)

    def create(
        self, account: str, region: str, database: str, table_name: str, partition_input: Shape
    ) -> None:
        with self.lock:
            table = self.get_table(account, region, database, table_name)
            values = list(partition_input.get("Values") or [])
            key = self._key(account, region, table, values)
            if self.store.get(key) is not None:
                raise partition_exists()
            partition = new_partition(account, table, partition_input, self.clock.now())
            self.store.put(key, records.encode(partition))

    def batch_create(
        self, account: str, region: str, database: str, table_name: str, inputs: list[Shape]
    ) -> list[Shape]:
        """Create what can be created in one commit; the rest come back as `Errors` entries."""
        errors: list[Shape] = []
        with self.lock:
            table = self.get_table(account, region, database, table_name)
            now = self.clock.now()
            ops: dict[str, Put] = {}
            for partition_input in inputs:
                values = list(partition_input.get("Values") or [])
                try:
                    key = self._key(account, region, table, values)
                    if key in ops or self.store.get(key) is not None:
                        raise partition_exists()
                except AwsError as error:
                    errors.append(_error(values, error))
                    continue
                partition = new_partition(account, table, partition_input, now)
                ops[key] = Put(key, records.encode(partition))
            if ops:
                self.store.batch(list(ops.values()))
        return errors

    def get(
        self, account: str, region: str, database: str, table_name: str, values: list[str]
    ) -> Shape:
        table = self.get_table(account, region, database, table_name)
        record = self.store.get(self._key(account, region, table, values))
        if record is None:
            raise partition_not_found()
        return records.decode(record)

    def batch_get(
        self, account: str, region: str, database: str, table_name: str, wanted: list[list[str]]
    ) -> list[Shape]:
        """The partitions that exist among `wanted` (missing ones are left out, as Glue does)."""
        table = self.get_table(account, region, database, table_name)
        found = []
        for values in wanted:
            record = self.store.get(self._key(account, region, table, values))
            if record is not None:
                found.append(records.decode(record))
        return found

    def _matching(
        self,
        account: str,
        region: str,
        table: Shape,
        expression: str | None,
        segment: Segment | None,
        after: str | None,
    ) -> Iterator[tuple[str, Shape]]:
        """(key suffix, partition) of the partitions that pass, in key order after `after`."""
        predicate: Predicate | None = None
        if expression:
            predicate = compile_expression(expression, partition_keys(table))
        prefix = records.partitions_prefix(account, region, table["DatabaseName"], table["Name"])
        start = None if after is None else prefix + after
        while True:
            page = self.store.list(prefix, start_after=start, limit=1000)
            for key, record in page.items:
                suffix = key[len(prefix) :]
                if segment is not None and not segment.holds(suffix):
                    continue
                if predicate is not None and not predicate(record["Values"]):
                    continue
                yield suffix, records.decode(record)
            if page.next_after is None:
                return
            start = page.next_after

    def get_all(
        self,
        account: str,
        region: str,
        database: str,
        table_name: str,
        expression: str | None = None,
        segment: Segment | None = None,
    ) -> list[Shape]:
        table = self.get_table(account, region, database, table_name)
        return [p for _, p in self._matching(account, region, table, expression, segment, None)]

    def page(
        self,
        account: str,
        region: str,
        database: str,
        table_name: str,
        expression: str | None,
        segment: Segment | None,
        max_results: int | None,
        token: str | None,
    ) -> tuple[list[Shape], str | None]:
        table = self.get_table(account, region, database, table_name)
        after = records.read_token(token, str)
        limit = max_results or DEFAULT_PAGE
        found: list[Shape] = []
        last = ""
        for suffix, partition in self._matching(account, region, table, expression, segment, after):
            if len(found) == limit:
                return found, records.make_token(last)
            found.append(partition)
            last = suffix
        return found, None

    def update(
        self,
        account: str,
        region: str,
        database: str,
        table_name: str,
        values: list[str],
        partition_input: Shape,
    ) -> None:
        """Replace a partition's definition; new `Values` in the input move it."""
        with self.lock:
            table = self.get_table(account, region, database, table_name)
            key = self._key(account, region, table, values)
            record = self.store.get(key)
            if record is None:
                raise partition_not_found()
            current = records.decode(record)
            new_values = partition_input.get("Values") or values
            update: dict[str, Any] = partition_input | {"Values": new_values}
            partition = new_partition(account, table, update, self.clock.now(), created=current)
            new_key = self._key(account, region, table, list(new_values))
            if new_key == key:
                self.store.put(key, records.encode(partition))
                return
            if self.store.get(new_key) is not None:
                raise partition_exists()
            self.store.batch([Delete(key), Put(new_key, records.encode(partition))])

    def delete(
        self, account: str, region: str, database: str, table_name: str, values: list[str]
    ) -> None:
        with self.lock:
            table = self.get_table(account, region, database, table_name)
            if not self.store.delete(self._key(account, region, table, values)):
                raise partition_not_found()

    def batch_delete(
        self, account: str, region: str, database: str, table_name: str, doomed: list[list[str]]
    ) -> list[Shape]:
        """Delete what exists in one commit; the rest come back as `Errors` entries."""
        errors: list[Shape] = []
        with self.lock:
            table = self.get_table(account, region, database, table_name)
            keys: dict[str, Delete] = {}
            for values in doomed:
                try:
                    key = self._key(account, region, table, values)
                    if key in keys or self.store.get(key) is None:
                        raise partition_not_found()
                except AwsError as error:
                    errors.append(_error(values, error))
                    continue
                keys[key] = Delete(key)
            if keys:
                self.store.batch(list(keys.values()))
        return errors
