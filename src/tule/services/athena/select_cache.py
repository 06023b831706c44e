"""Repeated SELECT texts: parsed once, and translated once per set of views they bind to.

A query's text always parses to the same tree, and the same tree pointed at the same views
always translates to the same DuckDB text: shared views are named after their definition and a
name never stands for another one (`tule.engines.duckdb_shared`). So a SELECT run again (a
dashboard's refresh, a scheduled report, a notebook cell) skips sqlglot's parse and its
translation, 2-3 ms of a TPC-H query.

Binding (looking every table up in Glue, listing its files in S3, finding their views) is kept
too, as a `Resolution`, under the Data Catalog's change counter read before it ran
(`MetadataStore.generation`) and with S3's change counter of each bucket it listed, read before
the listing (`S3.generation`): while the catalog has committed nothing and none of those
buckets has changed, every table resolves to the same files, so the same views. Any write to
the catalog (even a tag) or to one of those buckets (even an unrelated key) sends the next run
through binding again, which gives a changed table other views and a fresh translation; query
results written to another bucket do not. A resolution is used only while its views and file
copies still exist (both are bounded caches that may drop them); it saves 1-2 ms a TPC-H
query.

Kept only for texts with no parameters, and only for queries whose views are all shared (a
session's private view names repeat between queries). Trees here are never changed: binding
reads them and translation works on a copy. Bounded, least recently used first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

MAX_TEXTS = 256
MAX_TRANSLATIONS = 8  # per text: the views of a table change when its files do
MAX_RESOLUTIONS = 4  # per text: by account, region, database and the catalog's counter


@dataclass(frozen=True)
class Resolution:
    """What binding a text found: the views in `table_references` order, the bytes they scan,
    the names of the object copies they read, and each bucket it listed with S3's change
    counter for it, read before the listing."""

    views: tuple[str, ...]
    scanned_bytes: int
    copies: tuple[str, ...]
    buckets: tuple[tuple[str, int], ...]


class _Entry:
    __slots__ = ("resolutions", "translations", "tree")

    def __init__(self, tree: exp.Expression) -> None:
        self.tree = tree
        self.translations: OrderedDict[tuple[str, ...], str] = OrderedDict()
        self.resolutions: OrderedDict[tuple[object, ...], Resolution] = OrderedDict()


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

    def resolution(self, sql: str, where: tuple[object, ...]) -> Resolution | None:
        """What binding found for the text under `where` (see `remember`), if kept."""
        with self._lock:
            entry = self._entries.get(sql)
            return entry.resolutions.get(where) if entry is not None else None

    def remember(
        self,
        sql: str,
        tree: exp.Expression,
        text: str,
        where: tuple[object, ...],
        resolution: Resolution,
    ) -> None:
        """Keep `tree` (the caller's unbound parse, never to be changed again), the DuckDB
        `text` it translates to when bound to `resolution.views`, and the resolution itself
        under `where`: the account, region and default database, and the Data Catalog's
        generation read before binding began."""
        with self._lock:
            entry = self._entries.get(sql) or _Entry(tree)
            _put(self._entries, sql, entry, self.max_texts)
            _put(entry.translations, resolution.views, text, MAX_TRANSLATIONS)
            _put(entry.resolutions, where, resolution, MAX_RESOLUTIONS)


def _put(cache: OrderedDict[Any, Any], key: Any, value: Any, limit: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


__all__ = ["MAX_RESOLUTIONS", "MAX_TEXTS", "MAX_TRANSLATIONS", "Resolution", "SelectCache"]
