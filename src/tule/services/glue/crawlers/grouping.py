"""Which files make which table, and which folders are partitions.

Starting at the include path, a folder is one table when every data file below it sits at the
same depth and all their schemas are compatible (`schema.compatible`); the folder levels between
the table root and the files are then partitions. Otherwise the folder's own files (if any) are
a table of their own and each sub-folder is considered in turn, so incompatible sub-folders
become separate tables, as Glue documents.

A partition level whose folders are all `key=value` with one `key` is the partition column
`key`, holding the `value`s; any other level is `partition_<i>`, holding the folder names.
All partition columns are `string`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from tule.services.glue.crawlers.schema import SIMILARITY, FileSchema, combine, compatible


@dataclass(frozen=True)
class CrawledFile:
    """A data file below the include path: its folders (relative), name, size and schema."""

    parts: tuple[str, ...]
    name: str
    size: int
    schema: FileSchema

    @property
    def relative_key(self) -> str:
        return "/".join((*self.parts, self.name))


@dataclass
class PartitionPlan:
    """One partition: its values and folder (relative to the table root, ending in '/')."""

    values: tuple[str, ...]
    folder: str
    files: list[CrawledFile] = field(default_factory=list)

    @property
    def schema(self) -> FileSchema:
        return combine(f.schema for f in self.files)


@dataclass
class TablePlan:
    """One table the crawl found."""

    root: tuple[str, ...]  # the table root's folders relative to the include path
    files: list[CrawledFile]
    partition_keys: list[str]
    partitions: list[PartitionPlan]
    single_file: str | None = None  # a table made of one file: that file's name

    @property
    def schema(self) -> FileSchema:
        return combine(f.schema for f in self.files)

    @property
    def relative_location(self) -> str:
        """The table's location relative to the include path ("" is the include path)."""
        folder = "".join(p + "/" for p in self.root)
        return folder + self.single_file if self.single_file else folder


def plan_tables(
    files: Sequence[CrawledFile], *, combine_all: bool = False, table_depth: int | None = None
) -> list[TablePlan]:
    """The tables for the data files under one include path.

    `combine_all` is Glue's `CombineCompatibleSchemas` grouping policy: files of one format are
    one table whatever their columns. `table_depth` (from Glue's `TableLevelConfiguration`)
    puts the table roots that many folder levels below the include path.
    """
    if not files:
        return []
    similarity = 0.0 if combine_all else SIMILARITY
    if not table_depth:
        return _plan((), list(files), similarity)
    roots: dict[tuple[str, ...], list[CrawledFile]] = defaultdict(list)
    for f in files:
        if len(f.parts) >= table_depth:
            roots[f.parts[:table_depth]].append(f)
    plans: list[TablePlan] = []
    for root in sorted(roots):
        below = roots[root]
        if len({len(f.parts) for f in below}) == 1:
            plans.append(_table(root, below))
        else:
            plans += _plan(root, below, similarity)
    return plans


def _plan(folder: tuple[str, ...], files: list[CrawledFile], similarity: float) -> list[TablePlan]:
    level = len(folder)
    depths = {len(f.parts) - level for f in files}
    if len(depths) == 1 and compatible([f.schema for f in files], similarity):
        return [_table(folder, files)]
    plans: list[TablePlan] = []
    direct = [f for f in files if len(f.parts) == level]
    if direct:
        if compatible([f.schema for f in direct], similarity):
            plans.append(_table(folder, direct))
        else:
            plans += [
                TablePlan(folder, [f], [], [], single_file=f.name)
                for f in sorted(direct, key=lambda f: f.name)
            ]
    below: dict[str, list[CrawledFile]] = defaultdict(list)
    for f in files:
        if len(f.parts) > level:
            below[f.parts[level]].append(f)
    for child in sorted(below):
        plans += _plan((*folder, child), below[child], similarity)
    return plans


def _table(folder: tuple[str, ...], files: list[CrawledFile]) -> TablePlan:
    level = len(folder)
    depth = len(files[0].parts) - level
    keys = [_partition_key(i, {f.parts[level + i] for f in files}) for i in range(depth)]
    partitions: dict[tuple[str, ...], PartitionPlan] = {}
    for f in sorted(files, key=lambda f: f.relative_key):
        folders = f.parts[level:]
        if not folders:
            continue
        if folders not in partitions:
            values = tuple(
                name.partition("=")[2] if key != f"partition_{i}" else name
                for i, (key, name) in enumerate(zip(keys, folders, strict=True))
            )
            partitions[folders] = PartitionPlan(values, "".join(p + "/" for p in folders))
        partitions[folders].files.append(f)
    return TablePlan(folder, files, keys, list(partitions.values()))


def _partition_key(level: int, names: set[str]) -> str:
    keys = {name.partition("=")[0] for name in names if "=" in name}
    if len(keys) == 1 and all("=" in name for name in names):
        key = keys.pop().strip().lower()
        if key:
            return key
    return f"partition_{level}"
