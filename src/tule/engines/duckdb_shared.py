"""Views shared by every session of one engine, so a table read again costs no statement.

Registering a table for a query takes two statements (describe the files, create a view), each
of which reads the files' footers; for a short query over several tables that is a large part
of its time. Files that never change in place (S3 objects are immutable files: an overwrite is
a new file) can instead be described once and scanned through one view in the engine's own
catalog that every later session reuses:

- a file set's columns, and whether its files share one schema, are remembered by the files'
  identities (path, size, modification time), so a file that did change is described again;
- a view is remembered by the text of the SELECT that scans the files, which names every file,
  column and type, so equal text means an equal view;
- a query's result columns (what DESCRIBE says) are remembered by its text, for queries over
  shared views alone: a shared view's name is never given to another definition, so equal
  text binds to equal columns. A dashboard's repeated query is then bound once per run, not
  twice (DESCRIBE, then the run itself).

Both are bounded (least recently used first out); a dropped view is one no query has asked for
in the last `MAX_VIEWS` registrations.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

MAX_VIEWS = 2048
MAX_SCHEMAS = 4096
MAX_RESULTS = 1024

FileIdentity = tuple[tuple[str, int, int], ...]
Described = list[tuple[str, str]]


def identity(paths: list[str]) -> FileIdentity | None:
    """The files' (path, size, mtime) triples; None when one cannot be read."""
    out = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        out.append((path, stat.st_size, stat.st_mtime_ns))
    return tuple(out)


class SharedViews:
    """The engine-wide caches of described file sets and of views (see the module doc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._schemas: OrderedDict[FileIdentity, Described] = OrderedDict()
        self._uniform: OrderedDict[FileIdentity, bool] = OrderedDict()
        self._views: OrderedDict[str, str] = OrderedDict()
        self._scans: dict[str, str] = {}  # view name -> its scan, for `keep`
        self._results: OrderedDict[str, Described] = OrderedDict()
        self._count = 0

    def described(self, files: FileIdentity, describe: Callable[[], Described]) -> Described:
        """The columns of a file set, described once per set of file identities."""
        return self._remembered(self._schemas, files, describe, MAX_SCHEMAS)

    def same_schema(self, files: FileIdentity, check: Callable[[], bool]) -> bool:
        """Whether a file set's files share one schema, checked once per set of identities."""
        return bool(self._remembered(self._uniform, files, check, MAX_SCHEMAS, bool))

    def result_columns(self, sql: str, describe: Callable[[], Described]) -> Described:
        """The result columns of a query over shared views only, described once per text."""
        return self._remembered(self._results, sql, describe, MAX_RESULTS)

    def _remembered(
        self,
        cache: OrderedDict,
        key: object,
        describe: Callable[[], Any],
        limit: int,
        copy: Callable[[Any], Any] = list,
    ) -> Any:
        """`describe()`'s value for `key`, computed once; callers get a `copy` of it."""
        with self._lock:
            found = cache.get(key)
            if found is not None:
                cache.move_to_end(key)
                return copy(found)
        value = describe()
        with self._lock:
            cache[key] = copy(value)
            while len(cache) > limit:
                cache.popitem(last=False)
        return value

    def view(self, scan: str, create: Callable[[str], None], drop: Callable[[str], None]) -> str:
        """The name of a view over `scan`, created with `create(name)` the first time."""
        with self._lock:
            name = self._views.get(scan)
            if name is not None:
                self._views.move_to_end(scan)
                return name
            self._count += 1
            name = f"__tule_scan_{self._count}"
        create(name)
        evicted = []
        with self._lock:
            self._views[scan] = name
            self._scans[name] = scan
            while len(self._views) > MAX_VIEWS:
                evicted.append(self._views.popitem(last=False)[1])
                self._scans.pop(evicted[-1], None)
        for old in evicted:
            drop(old)
        return name

    def keep(self, names: Iterable[str]) -> bool:
        """Whether every named view still exists, each marked as just used: for a caller that
        remembered the names rather than asking `view` again."""
        with self._lock:
            scans = [self._scans.get(name) for name in names]
            if any(scan is None or scan not in self._views for scan in scans):
                return False
            for scan in scans:
                self._views.move_to_end(scan)  # type: ignore[arg-type]
            return True
