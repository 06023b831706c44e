"""CREATE [OR REPLACE] VIEW.

It runs nothing but binds and describes the view's query (so a view over a missing table or
column fails as Athena's does), then stores it in Glue in the form `view_definitions`
describes, its SQL kept as written. Queries read views in `binding`; DROP VIEW is in `ddl`,
SHOW VIEWS and SHOW CREATE VIEW in `show`.
"""

from __future__ import annotations

import re

from sqlglot import exp

from tule.engines.duckdb_engine import EngineSession
from tule.errors import AwsError
from tule.services.athena import dialect
from tule.services.athena.binding import Catalogs, bind_tables
from tule.services.athena.errors import QueryFailed, ddl_failed
from tule.services.athena.show import find_table, require_database
from tule.services.athena.view_definitions import is_view, view_table_input

_CREATE = re.compile(
    r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+.+?\s+AS\s+(?P<body>.*?)[\s;]*\Z", re.I | re.S
)


def create_view(create: exp.Create, sql: str, catalogs: Catalogs, session: EngineSession) -> None:
    """Store the view `create` defines (`sql`: the statement as written)."""
    table = create.this if isinstance(create.this, exp.Table) else create.this.find(exp.Table)
    if table is None or not isinstance(create.expression, exp.Query):
        raise QueryFailed("SYNTAX_ERROR", "line 1:1: CREATE VIEW needs a name and a query")
    database = (table.db or catalogs.default_database or "default").lower()
    name = table.name.lower()
    require_database(catalogs, database)
    match = _CREATE.match(sql)
    body = match.group("body") if match else create.expression.sql(dialect=dialect.READ)
    with catalogs.resolving_in(database):
        bound = bind_tables(create.expression.copy(), catalogs, session)
    described = session.describe(dialect.to_duckdb(bound, copy=False))
    table_input = view_table_input(name, body, database, described)
    glue = catalogs.glue.catalog
    qualified = f"'awsdatacatalog.{database}.{name}'"
    existing = find_table(catalogs, database, name)
    if existing is not None and not is_view(existing):
        raise QueryFailed("ALREADY_EXISTS", f"line 1:1: Table already exists: {qualified}")
    if existing is not None and not create.args.get("replace"):
        raise QueryFailed("ALREADY_EXISTS", f"line 1:1: View already exists: {qualified}")
    try:
        if existing is None:
            glue.create_table(catalogs.account, catalogs.region, database, table_input)
        else:
            glue.update_table(catalogs.account, catalogs.region, database, table_input)
    except AwsError as err:
        raise ddl_failed(f"{err.code}: {err.message}") from None
