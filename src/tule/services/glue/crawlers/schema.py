"""What classifying one file yields (`FileSchema`), and how the schemas of many files combine.

A crawler reads each file once, turns it into a `FileSchema` (format, columns, record count),
then decides which files share a table: files whose schemas are *compatible* (same format and
mostly the same columns) become one table, their columns merged in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from tule.services.glue.crawlers.hive_types import HiveType, merge

# Files are one table when every file carries at least this share of the table's columns
# (AWS groups "similar" schemas; a partition that adds a column or two still belongs).
SIMILARITY = 0.7


@dataclass(frozen=True)
class FileSchema:
    """The classification and schema of one data file."""

    classification: str  # csv | json | parquet | orc | avro
    columns: tuple[tuple[str, HiveType | None], ...]
    records: int  # exact for columnar formats, estimated from the sample for text
    compression: str = "none"  # none | gzip | bzip2
    # CSV only
    delimiter: str | None = None
    header: bool = False
    quoted: bool = False
    quote_char: str = '"'
    serde: str | None = None  # a custom CSV classifier's Serde (OpenCSVSerDe | LazySimpleSerDe)
    # JSON only: the top-level keys as written in the data (JsonSerDe's `paths`)
    json_keys: tuple[str, ...] = ()
    # Avro only: the writer's schema, which the AvroSerDe reads the data with
    avro_schema: str | None = None
    classifier: str | None = None  # the custom classifier that matched, if any
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> tuple[object, ...]:
        """What files must share to live in one table (besides similar columns)."""
        return (self.classification, self.compression, self.delimiter, self.header)

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


def compatible(schemas: Sequence[FileSchema], similarity: float = SIMILARITY) -> bool:
    """Whether these files can be one table: one format, and similar enough columns (each
    file has at least `similarity` of all their columns)."""
    if not schemas:
        return True
    if len({s.kind for s in schemas}) != 1:
        return False
    union: set[str] = set()
    for s in schemas:
        union.update(s.column_names)
    if not union:
        return True
    return all(len(set(s.column_names)) >= similarity * len(union) for s in schemas)


def combine(schemas: Iterable[FileSchema]) -> FileSchema:
    """One schema for files already found compatible: columns merged in order of first
    appearance, types widened, records summed, quoting if any file quotes."""
    items = list(schemas)
    first = items[0]
    columns: dict[str, HiveType | None] = {}
    keys: dict[str, None] = {}
    records = 0
    quoted = False
    for s in items:
        for name, t in s.columns:
            columns[name] = merge(columns.get(name), t) if name in columns else t
        keys.update(dict.fromkeys(s.json_keys))
        records += s.records
        quoted = quoted or s.quoted
    return replace(
        first,
        columns=tuple(columns.items()),
        records=records,
        quoted=quoted,
        json_keys=tuple(keys),
    )
