"""The SQL users write for Athena (Trino's dialect; Hive's for DDL) and its DuckDB translation.

sqlglot parses with its `athena` dialect (Trino for queries, Hive for DDL) and writes DuckDB;
this module adds what that leaves different from Athena's behaviour:

- `slice(array, start, length)` takes a length in Trino, an end index in DuckDB;
- `from_unixtime` yields Trino's `timestamp`, not a zoned timestamp;
- `array_distinct` keeps the first occurrences in their order;
- a date plus or minus a day/week/month/quarter/year interval (`date '1998-12-01' - interval
  '90' day`, `date_add('month', 3, date '1993-10-01')`) is a `date` in Trino, a timestamp in
  DuckDB: the sum is cast back to DATE where the operand is known to be a date (a date literal,
  a cast to date, `date(...)`, `current_date`, or such a sum itself). That also keeps a filter
  like TPC-H's `l_shipdate <= date '1998-12-01' - interval '90' day` a date comparison, which
  DuckDB pushes into the Parquet scan. A date *column* plus an interval is left a timestamp
  (its type is not known here);
- result columns without a name are `_col0`, `_col1`, ... (Trino's naming), not DuckDB's
  expression text;
- integer division truncates (the session sets DuckDB's `integer_division`, see `runner`).

It also finds the tables a query reads (`table_references`), binds `?` parameters
(`bind_parameters`), and reports parse failures as Athena's `SYNTAX_ERROR: line L:C: ...`.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from tule.services.athena.errors import QueryFailed, syntax_error

READ = "athena"


def parse(sql: str) -> exp.Expression:
    """One statement, parsed; a syntax error becomes Athena's SYNTAX_ERROR."""
    text = sql.strip().rstrip(";").strip()
    try:
        statements = [s for s in sqlglot.parse(text, read=READ) if s is not None]
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        line, col = int(first.get("line") or 1), int(first.get("col") or 1)
        description = str(first.get("description") or err).split(". Line")[0]
        raise syntax_error(description, line, col) from None
    except TokenError as err:
        raise syntax_error(str(err)) from None
    if len(statements) != 1:
        raise syntax_error("Only one sql statement is allowed. Got: " + str(len(statements)))
    return statements[0]


def position(node: exp.Expression) -> tuple[int, int]:
    """Where a node starts in the user's text, as (line, column), 1-based."""
    target = node.this if isinstance(node, exp.Table | exp.Column) else node
    meta = getattr(target, "meta", None) or {}
    line = int(meta.get("line") or 1)
    end_col = int(meta.get("col") or 1)
    name = target.name if isinstance(target, exp.Identifier) else ""
    start = end_col - len(name) + 1 if name else end_col
    if isinstance(node, exp.Table) and node.args.get("db") is not None:
        db = node.args["db"]
        db_meta = getattr(db, "meta", None) or {}
        if db_meta.get("col"):
            start = int(db_meta["col"]) - len(db.name) + 1
    return line, max(start, 1)


def cte_names(tree: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def table_references(tree: exp.Expression) -> list[exp.Table]:
    """The catalog tables a query reads: every table node that is not a CTE's name nor a
    table function (UNNEST, VALUES)."""
    ctes = cte_names(tree)
    out = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue
        if not table.args.get("db") and table.name.lower() in ctes:
            continue
        out.append(table)
    return out


def bind_parameters(tree: exp.Expression, values: list[str]) -> exp.Expression:
    """Replace `?` placeholders, in order, with the given values (SQL literals, as Athena's
    ExecutionParameters and `EXECUTE ... USING` pass them)."""
    placeholders = [p for p in tree.find_all(exp.Placeholder, bfs=False) if p.name in ("", "?")]
    if len(placeholders) != len(values):
        raise QueryFailed(
            "INVALID_PARAMETER_USAGE",
            f"line 1:1: Incorrect number of parameters: expected {len(placeholders)} "
            f"but found {len(values)}",
        )
    for placeholder, value in zip(placeholders, values, strict=True):
        try:
            literal = sqlglot.parse_one(value, read=READ, into=exp.Condition)
        except (ParseError, TokenError):
            literal = exp.Literal.string(value)
        placeholder.replace(literal)
    return tree


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.ArraySlice):
        start, length = node.args.get("start"), node.args.get("end")
        if start is not None and length is not None:
            end = exp.Sub(
                this=exp.Add(this=start.copy(), expression=length.copy()),
                expression=exp.Literal.number(1),
            )
            return exp.ArraySlice(this=node.this, start=start, end=end)
    if isinstance(node, exp.ArrayDistinct):
        # Trino keeps first occurrences in order; DuckDB's list_distinct does not.
        items = node.this.sql(dialect="duckdb")
        return sqlglot.parse_one(
            f"LIST_FILTER(({items}), LAMBDA __v, __i : LIST_POSITION(({items}), __v) = __i)",
            read="duckdb",
        )
    if isinstance(node, exp.UnixToTime):
        return exp.Cast(this=node.copy(), to=exp.DataType.build("TIMESTAMP"))
    if isinstance(node, exp.Struct) and not any(
        isinstance(e, exp.PropertyEQ | exp.Alias) for e in node.expressions
    ):
        # Trino's ROW(1, 'x') has no field names (Athena prints it `{field0=1, field1=x}`);
        # DuckDB's row() makes the same unnamed row, where sqlglot would name them `_0`, `_1`.
        return exp.Anonymous(this="ROW", expressions=[e.copy() for e in node.expressions])
    return node


_DATE_UNITS = frozenset({"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"})


def _date_unit(unit: exp.Expression | None) -> bool:
    name = unit.name.upper() if unit is not None else "DAY"
    return name.removesuffix("S") in _DATE_UNITS


def _is_date(node: exp.Expression) -> bool:
    """Whether the expression is a date by its form alone (no column types needed)."""
    if isinstance(node, exp.Paren):
        return _is_date(node.this)
    if isinstance(node, exp.Cast):
        return node.to.is_type(exp.DataType.Type.DATE)
    if isinstance(node, exp.Date | exp.CurrentDate | exp.TsOrDsToDate):
        return True
    return _date_arithmetic(node) is not None


def _date_arithmetic(node: exp.Expression) -> exp.Expression | None:
    """The date operand of `date +/- interval` or `date_add(unit, n, date)` in day-or-larger
    units (a date in Trino), else None."""
    if isinstance(node, exp.DateAdd | exp.DateSub):
        if _date_unit(node.args.get("unit")) and _is_date(node.this):
            return node.this
        return None
    if isinstance(node, exp.Add | exp.Sub):
        left, right = node.this, node.expression
        if isinstance(right, exp.Interval) and _date_unit(right.args.get("unit")):
            return left if _is_date(left) else None
        if isinstance(node, exp.Add) and isinstance(left, exp.Interval):
            return right if _date_unit(left.args.get("unit")) and _is_date(right) else None
    return None


def _keep_dates(node: exp.Expression) -> exp.Expression:
    """Cast `date +/- interval` back to DATE, as Trino types it (see the module docstring)."""
    if _date_arithmetic(node) is None:
        return node
    # Already cast by an enclosing rewrite (the outermost sum is visited first).
    parent = node.parent
    if isinstance(parent, exp.Cast) and parent.to.is_type(exp.DataType.Type.DATE):
        return node
    return exp.Cast(this=node.copy(), to=exp.DataType.build("DATE"))


def _translate(tree: exp.Expression) -> exp.Expression:
    tree = tree.transform(_rewrite, copy=False)
    # A second pass: the cast wraps a node whose parts the first pass may have rewritten.
    return tree.transform(_keep_dates, copy=False)


def _name_columns(select: exp.Select) -> None:
    """Trino names an unnamed result column `_col<position>`."""
    for i, projection in enumerate(select.expressions):
        if isinstance(projection, exp.Alias | exp.Column | exp.Star):
            continue
        if isinstance(projection, exp.Dot):
            continue
        projection.replace(exp.alias_(projection.copy(), f"_col{i}", quoted=True))


def outermost_selects(tree: exp.Expression) -> list[exp.Select]:
    node = tree
    if isinstance(node, exp.Subquery):
        node = node.this
    if isinstance(node, exp.Select):
        return [node]
    if isinstance(node, exp.SetOperation):
        return outermost_selects(node.this)
    return []


def to_duckdb(tree: exp.Expression, *, copy: bool = True) -> str:
    """The DuckDB text of a (rewritten) query tree; `copy=False` rewrites the caller's tree in
    place (a copy of a TPC-H query's tree costs a few milliseconds)."""
    if copy:
        tree = tree.copy()
    for select in outermost_selects(tree):
        _name_columns(select)
    return _translate(tree).sql(dialect="duckdb")


def expression_to_duckdb(node: exp.Expression) -> str:
    """The DuckDB text of one expression (a predicate, a value)."""
    return _translate(node.copy()).sql(dialect="duckdb")


def table_name_parts(table: exp.Table, default_database: str | None) -> tuple[str, str, str]:
    """(catalog, database, table) of a table node, lower-cased as Athena resolves them."""
    catalog = (table.catalog or "awsdatacatalog").lower()
    database = (table.db or default_database or "default").lower()
    return catalog, database, table.name.lower()
