"""Repeated SELECT texts: parsed once, and translated once per set of views they bind to.

A query's text always parses to the same tree, and the same tree pointed at the same views
always translates to the same DuckDB text: shared views are named after their definition and a
name never stands for another one (`tule.engines.duckdb_shared`). So a SELECT run again (a
dashboard's refresh, a scheduled report, a notebook cell) skips sqlglot's parse and its
translation, 2-3 ms of a TPC-H query, and only binds its tables again. Binding still runs every
time, so a table whose files or definition changed gets another view and a fresh translation.

Kept only for texts with no parameters, and translations only for queries whose views are all
shared (a session's private view names repeat between queries). Trees here are never changed:
binding reads them and translation works on a copy. Bounded, least recently used first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlglot import exp

MAX_TEXTS = 256
MAX_TRANSLATIONS = 8  # per text: the views of a table change when its files do


class _Entry:
    __slots__ = ("translations", "tree")

    def __init__(self, tree: exp.Expression) -> None:
        self.tree = tree
        self.translations: OrderedDict[tuple[str, ...], str] = OrderedDict()


class SelectCache:
    """Parsed SELECT trees by query text, and their DuckDB texts by the views bound."""

    def __init__(self, max_texts: int = MAX_TEXTS) -> None:
        self.max_texts = max_texts
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def tree(self, sql: str) -> exp.Expression | None:
        """The text's parsed tree, to read and never to change; None if not kept."""
        with self._lock:
            entry = self._entries.get(sql)
            if entry is None:
                return None
            self._entries.move_to_end(sql)
            return entry.tree

    def translation(self, sql: str, views: tuple[str, ...]) -> str | None:
        with self._lock:
            entry = self._entries.get(sql)
            return entry.translations.get(views) if entry is not None else None

    def remember(self, sql: str, tree: exp.Expression, views: tuple[str, ...], text: str) -> None:
        """Keep `tree` (the caller's unbound parse, never to be changed again) and the DuckDB
        text it translates to when bound to `views`."""
        with self._lock:
            entry = self._entries.get(sql)
            if entry is None:
                entry = self._entries[sql] = _Entry(tree)
                while len(self._entries) > self.max_texts:
                    self._entries.popitem(last=False)
            self._entries.move_to_end(sql)
            entry.translations[views] = text
            entry.translations.move_to_end(views)
            while len(entry.translations) > MAX_TRANSLATIONS:
                entry.translations.popitem(last=False)


__all__ = ["MAX_TEXTS", "MAX_TRANSLATIONS", "SelectCache"]
