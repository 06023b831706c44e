"""Durable records: a small key-value interface with SQLite (WAL) and in-memory implementations."""

from tule.metadata.base import MetadataStore, Page

__all__ = ["MetadataStore", "Page", "open_store"]


def open_store(path: str | None, *, fsync: bool = True) -> MetadataStore:
    """A SQLite store at `path`, or an in-memory one when `path` is None."""
    if path is None:
        from tule.metadata.memory import MemoryStore

        return MemoryStore()
    from tule.metadata.sqlite import SqliteStore

    return SqliteStore(path, fsync=fsync)
