"""Crawler records in the crawlers' MetadataStore, and how they read back as AWS's Crawler shape.

    crawler/<account>/<region>/<name>   definition, State, times, LastCrawl, current run, metrics
    crawled/<account>/<region>/<name>   the folders earlier crawls read (CRAWL_NEW_FOLDERS_ONLY)

Times are stored as epoch seconds and handed out as aware datetimes.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tule.metadata import MetadataStore

Shape = dict[str, Any]
Record = dict[str, Any]

LOG_GROUP = "/aws-glue/crawlers"
# Runtimes kept for MedianRuntimeSeconds.
_RUNTIMES_KEPT = 20


def crawler_key(account: str, region: str, name: str) -> str:
    return f"crawler/{account}/{region}/{name}"


def crawled_key(account: str, region: str, name: str) -> str:
    return f"crawled/{account}/{region}/{name}"


def crawler_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:glue:{region}:{account}:crawler/{name}"


def _time(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@dataclass(frozen=True)
class CrawlOutcome:
    """How one crawl ended."""

    status: str  # SUCCEEDED | CANCELLED | FAILED
    error: str | None
    created: int
    updated: int
    deleted: int


def crawler_shape(record: Record, now: float) -> Shape:
    """The Crawler shape GetCrawler answers."""
    shape: Shape = {k: v for k, v in record["definition"].items() if v is not None}
    shape |= {
        "Name": record["Name"],
        "State": record["State"],
        "CreationTime": _time(record["CreationTime"]),
        "LastUpdated": _time(record["LastUpdated"]),
        "Version": record["Version"],
    }
    run = record.get("run")
    if run is not None and record["State"] != "READY":
        shape["CrawlElapsedTime"] = max(0, int((now - run["StartTime"]) * 1000))
    last = record.get("LastCrawl")
    if last is not None:
        shape["LastCrawl"] = {k: v for k, v in last.items() if v is not None} | {
            "StartTime": _time(last["StartTime"])
        }
    return shape


def metrics_shape(record: Record, now: float) -> Shape:
    """One CrawlerMetrics entry: runtimes and the last crawl's table counts."""
    metrics = record.get("metrics") or {}
    runtimes = metrics.get("runtimes") or []
    running = record["State"] != "READY"
    return {
        "CrawlerName": record["Name"],
        "TimeLeftSeconds": 0.0,
        "StillEstimating": running,
        "LastRuntimeSeconds": float(runtimes[-1]) if runtimes else 0.0,
        "MedianRuntimeSeconds": float(statistics.median(runtimes)) if runtimes else 0.0,
        "TablesCreated": metrics.get("TablesCreated", 0),
        "TablesUpdated": metrics.get("TablesUpdated", 0),
        "TablesDeleted": metrics.get("TablesDeleted", 0),
    }


def finished(record: Record, outcome: CrawlOutcome, now: float) -> Record:
    """The record once its crawl ended: READY, LastCrawl set, metrics updated."""
    run = record["run"]
    metrics = dict(record.get("metrics") or {})
    runtimes = [*metrics.get("runtimes", []), round(now - run["StartTime"], 3)]
    metrics["runtimes"] = runtimes[-_RUNTIMES_KEPT:]
    if outcome.status == "SUCCEEDED":
        metrics |= {
            "TablesCreated": outcome.created,
            "TablesUpdated": outcome.updated,
            "TablesDeleted": outcome.deleted,
        }
    last_crawl = {
        "Status": outcome.status,
        "ErrorMessage": outcome.error,
        "LogGroup": LOG_GROUP,
        "LogStream": record["Name"],
        "MessagePrefix": run["MessagePrefix"],
        "StartTime": run["StartTime"],
    }
    out = {k: v for k, v in record.items() if k != "run"}
    return out | {"State": "READY", "LastCrawl": last_crawl, "metrics": metrics}


class CrawlerStore:
    """Reads and writes crawler records (the caller serializes read-modify-writes)."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def get(self, account: str, region: str, name: str) -> Record | None:
        return self.store.get(crawler_key(account, region, name))

    def create(self, account: str, region: str, record: Record) -> bool:
        return self.store.compare_and_set(
            crawler_key(account, region, record["Name"]), None, record
        )

    def put(self, account: str, region: str, record: Record) -> None:
        self.store.put(crawler_key(account, region, record["Name"]), record)

    def delete(self, account: str, region: str, name: str) -> None:
        self.store.delete(crawler_key(account, region, name))
        self.store.delete(crawled_key(account, region, name))

    def names(self, account: str, region: str) -> list[str]:
        prefix = crawler_key(account, region, "")
        return [key[len(prefix) :] for key in self._keys(prefix)]

    def everywhere(self) -> Iterator[tuple[str, str, Record]]:
        """Every crawler record of every account and region (for the start-up sweep)."""
        for key in list(self._keys("crawler/")):
            _, account, region, _ = key.split("/", 3)
            record = self.store.get(key)
            if record is not None:
                yield account, region, record

    def crawled_folders(self, account: str, region: str, name: str) -> set[str]:
        record = self.store.get(crawled_key(account, region, name)) or {}
        return set(record.get("folders") or [])

    def add_crawled_folders(self, account: str, region: str, name: str, folders: set[str]) -> None:
        known = self.crawled_folders(account, region, name)
        self.store.put(crawled_key(account, region, name), {"folders": sorted(known | folders)})

    def _keys(self, prefix: str) -> Iterator[str]:
        after: str | None = None
        while True:
            keys = self.store.list_keys(prefix, start_after=after, limit=1000)
            yield from keys
            if len(keys) < 1000:
                return
            after = keys[-1]
