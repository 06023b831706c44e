"""Binding a query's table names to the engine: Glue lookup, partition pruning, registration.

Each catalog table a query names is looked up in Glue (a missing one fails the query with
Athena's TABLE_NOT_FOUND / SCHEMA_NOT_FOUND at the name's position), its partitions are pruned
with the query's WHERE predicates on partition keys before any file is opened, and the files
left are registered with the engine as a view that replaces the name in the query. The bytes of
the registered files are what the query scanned (`DataScannedInBytes`).

Pruning evaluates the conjuncts of the table's SELECT that mention only its partition keys
against the partition values (in DuckDB, typed as the keys are): any predicate the engine can
evaluate prunes, from `=` and `IN` to ranges and functions. It is skipped inside outer joins
(a predicate there may keep null-extended rows) and whenever the predicates cannot be
evaluated, which only costs reading more.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from tule.engines.duckdb_engine import EngineError, EngineSession
from tule.engines.duckdb_sources import Column, TableSource, sql_string
from tule.engines.duckdb_types import duckdb_type, quote_identifier
from tule.errors import AwsError
from tule.services.athena import dialect
from tule.services.athena.errors import QueryFailed, schema_not_found, table_not_found
from tule.services.athena.tables import FileReader, build_source, partition_keys
from tule.services.athena.view_definitions import is_view, read_definition

Shape = dict[str, Any]

MAX_VIEW_DEPTH = 32


@dataclass
class Catalogs:
    """What binding needs: the Glue catalog, the file reader, and where the query runs."""

    glue: Any
    reader: FileReader
    account: str
    region: str
    default_database: str | None
    scanned_bytes: int = 0
    # (database, table, files) -> the view already registered for them in this query
    bound: dict[tuple[str, str, tuple[str, ...]], str] = field(default_factory=dict)
    # Whether a view is this session's own (ORC, unreadable files): its name is reused by
    # other queries for other files, so the query's translation must not be kept.
    private_views: bool = False
    # Athena views being bound (database.name), to refuse one that reads itself.
    expanding: set[str] = field(default_factory=set)
    _views: int = 0
    _databases: set[str] = field(default_factory=set)  # found once, not looked up again

    def get_table(self, database: str, name: str, where: exp.Expression | None = None) -> Shape:
        def at() -> tuple[int, int]:  # where the name stands, for the error only
            return dialect.position(where) if where is not None else (1, 1)

        if database not in self._databases:
            try:
                self.glue.catalog.get_database(self.account, self.region, database)
            except AwsError as err:
                if err.code == "EntityNotFoundException":
                    raise schema_not_found("awsdatacatalog", database, *at()) from None
                raise
            self._databases.add(database)
        try:
            table: Shape = self.glue.catalog.get_table(self.account, self.region, database, name)
        except AwsError as err:
            if err.code == "EntityNotFoundException":
                raise table_not_found("awsdatacatalog", database, name, *at()) from None
            raise
        return table

    def partitions(self, database: str, name: str) -> list[Shape]:
        found: list[Shape] = self.glue.catalog.get_partitions(
            self.account, self.region, database, name
        )
        return found

    def catalog_generation(self) -> int:
        """The Data Catalog's change counter (see `select_cache`)."""
        return int(self.glue.catalog_generation())

    def buckets_unchanged(self, seen: tuple[tuple[str, int], ...]) -> bool:
        """Whether each bucket's S3 change counter still reads as it did."""
        return all(self.reader.s3.generation(bucket) == count for bucket, count in seen)

    @contextmanager
    def resolving_in(self, database: str) -> Iterator[None]:
        """Unqualified names resolve in `database` meanwhile (a view's query, its schema's)."""
        outer = self.default_database
        self.default_database = database
        try:
            yield
        finally:
            self.default_database = outer

    def next_view(self) -> str:
        self._views += 1
        return f"__athena_t{self._views}"


def _conjuncts(where: exp.Expression | None) -> list[exp.Expression]:
    if where is None:
        return []
    node = where.this if isinstance(where, exp.Where) else where
    return list(node.flatten()) if isinstance(node, exp.And) else [node]


def _partition_predicates(
    table: exp.Table, keys: tuple[Column, ...]
) -> list[exp.Expression] | None:
    """The WHERE conjuncts of the table's SELECT that use only its partition keys, with
    qualifiers dropped; None when pruning must not be attempted."""
    select = table.find_ancestor(exp.Select)
    if select is None:
        return []
    for join in select.args.get("joins") or []:
        if join.side in ("LEFT", "RIGHT", "FULL") or join.kind == "FULL":
            return None
    names = {k.name for k in keys}
    qualifiers = {table.alias_or_name.lower(), table.name.lower()}
    out = []
    for conjunct in _conjuncts(select.args.get("where")):
        if conjunct.find(exp.Subquery, exp.Select) is not None:
            continue
        columns = list(conjunct.find_all(exp.Column))
        if not columns:
            continue
        usable = all(
            c.name.lower() in names and (not c.table or c.table.lower() in qualifiers)
            for c in columns
        )
        if not usable:
            continue
        stripped = conjunct.copy()
        for c in stripped.find_all(exp.Column):
            c.replace(exp.column(c.name.lower(), quoted=True))
        out.append(stripped)
    return out


def prune(
    session: EngineSession,
    keys: tuple[Column, ...],
    partitions: list[Shape],
    predicates: list[exp.Expression],
) -> list[Shape]:
    """The partitions whose values satisfy every predicate."""
    if not predicates or not partitions:
        return partitions
    rows = []
    for i, partition in enumerate(partitions):
        values = list(partition.get("Values") or [])
        cells = [str(i)] + [
            "NULL" if v == "__HIVE_DEFAULT_PARTITION__" else sql_string(v) for v in values
        ]
        rows.append("(" + ", ".join(cells) + ")")
    names = ", ".join(["__i", *(quote_identifier(k.name) for k in keys)])
    typed = ", ".join(
        [
            "__i",
            *(
                f"TRY_CAST({quote_identifier(k.name)} AS {duckdb_type(k.hive_type)}) AS "
                f"{quote_identifier(k.name)}"
                for k in keys
            ),
        ]
    )
    condition = " AND ".join(f"({dialect.expression_to_duckdb(p)})" for p in predicates)
    sql = (
        f"SELECT __i FROM (SELECT {typed} FROM (VALUES {', '.join(rows)}) AS __p({names})) "
        f"WHERE {condition}"
    )
    try:
        keep = {int(r[0]) for r in session.fetch(sql)}
    except EngineError:
        return partitions
    return [p for i, p in enumerate(partitions) if i in keep]


def resolve_tables(tree: exp.Expression, catalogs: Catalogs, session: EngineSession) -> list[str]:
    """The view that replaces each catalog table the query reads, in `table_references`
    order, registering what is not registered yet. Reads the tree without changing it."""
    # A name read again in the same query (TPC-H names `nation` up to 4 times) is looked up
    # and listed once; partitioned tables are pruned per reference, by that SELECT's WHERE.
    looked_up: dict[tuple[str, str], Shape] = {}
    listed: dict[tuple[str, str], TableSource] = {}
    views = []
    for table in dialect.table_references(tree):
        _catalog, database, name = dialect.table_name_parts(table, catalogs.default_database)
        glue_table = looked_up.get((database, name)) or catalogs.get_table(database, name, table)
        looked_up[(database, name)] = glue_table
        if is_view(glue_table):
            views.append(_bind_view(glue_table, database, catalogs, session))
            continue
        keys = partition_keys(glue_table)
        chosen = None
        if keys:
            chosen = catalogs.partitions(database, name)
            predicates = _partition_predicates(table, keys)
            if predicates:
                chosen = prune(session, keys, chosen, predicates)
        source = listed.get((database, name)) or build_source(glue_table, chosen, catalogs.reader)
        if not keys:
            listed[(database, name)] = source
        # A table named twice over the same files (a self-join, TPC-H's `nation n1, nation
        # n2`) is registered once: each registration reads the files' schemas again.
        reuse = (database, name, tuple(f.path for f in source.files))
        view = catalogs.bound.get(reuse)
        if view is None:
            # S3's immutable files and the shared copies: a view later queries reuse.
            private = catalogs.next_view()
            view = session.scan_view(source, private)
            catalogs.private_views |= view == private
            catalogs.bound[reuse] = view
        catalogs.scanned_bytes += source.scanned_bytes
        views.append(view)
    return views


def _bind_view(glue_table: Shape, database: str, catalogs: Catalogs, session: EngineSession) -> str:
    """A view of this session that runs an Athena view's query (its own names bound in the
    view's schema, views inside it in turn). Such a query is not kept by the select cache: a
    replaced view changes its meaning under the same text and tables."""
    definition = read_definition(glue_table, database)
    key = f"{database}.{glue_table['Name']}".lower()
    if key in catalogs.expanding or len(catalogs.expanding) >= MAX_VIEW_DEPTH:
        raise QueryFailed(
            "VIEW_IS_RECURSIVE", f"line 1:1: View is recursive: 'awsdatacatalog.{key}'"
        )
    catalogs.expanding.add(key)
    try:
        with catalogs.resolving_in(definition.schema):
            tree = bind_tables(dialect.parse(definition.sql), catalogs, session)
    finally:
        catalogs.expanding.discard(key)
    inner = dialect.to_duckdb(tree, copy=False)
    name = catalogs.next_view()
    described = session.describe(inner)
    if definition.columns and len(definition.columns) != len(described):
        raise QueryFailed(
            "VIEW_IS_STALE",
            f"line 1:1: View 'awsdatacatalog.{key}' is stale or in invalid state: it defines "
            f"{len(definition.columns)} columns, its query now yields {len(described)}",
        )
    session.define_view(name, inner, [c for c, _ in definition.columns] or None)
    catalogs.private_views = True
    return name


def apply_views(tree: exp.Expression, views: list[str]) -> exp.Expression:
    """Point the query's catalog tables at `views` (from `resolve_tables` on this tree or an
    identical one), keeping each reference's alias."""
    for table, view in zip(dialect.table_references(tree), views, strict=True):
        alias = table.alias or table.name.lower()
        replacement = exp.Table(this=exp.to_identifier(view, quoted=True))
        replacement.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
        if table.args.get("alias") is not None and table.args["alias"].columns:
            replacement.set("alias", table.args["alias"].copy())
        table.replace(replacement)
    return tree


def bind_tables(tree: exp.Expression, catalogs: Catalogs, session: EngineSession) -> exp.Expression:
    """Register every catalog table the query reads and point the query at the views."""
    return apply_views(tree, resolve_tables(tree, catalogs, session))
