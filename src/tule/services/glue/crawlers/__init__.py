"""Glue crawlers: crawler records and states, crawl runs on background threads, classifiers.

A crawler reads S3 targets, classifies each file (custom CSV/JSON classifiers first, then
Parquet, ORC, Avro, JSON, CSV), infers schemas, groups files into tables and partitions and
writes them into the Data Catalog (see `run`, `grouping`, `writer`). Records are durable in
`<data dir>/glue/crawlers.db`, scoped by (account, region); a crawler that was RUNNING when the
server stopped comes back READY with LastCrawl FAILED.

States: READY -> (StartCrawler) RUNNING -> STOPPING -> READY with LastCrawl{Status SUCCEEDED |
CANCELLED | FAILED}. The crawl runs on a thread of its own, never in the request; StopCrawler
sets STOPPING and the crawl stops at its next file or table.

The in-process API (Glue's handlers use it; AWS shapes as dicts, errors `AwsError`s):

    crawlers = glue.crawlers
    crawlers.create_crawler(account, region, request)      # CreateCrawler's request shape
    crawlers.update_crawler(account, region, request)      # UpdateCrawler's request shape
    crawlers.delete_crawler(account, region, name)
    crawlers.get_crawler(account, region, name) -> dict    # the Crawler shape
    crawlers.get_crawlers(account, region) -> list[dict]   # all, in name order
    crawlers.crawler_names(account, region, tags=None) -> list[str]
    crawlers.start_crawler(account, region, name)          # returns at once; the crawl runs
    crawlers.stop_crawler(account, region, name)
    crawlers.crawler_metrics(account, region, names=None) -> list[dict]  # CrawlerMetrics shapes
    crawlers.wait(account, region, name, timeout=30.0) -> dict  # blocks until READY (tests, CLI)
    crawlers.classifiers.create(account, region, request) / update / delete / get / list

`on_file`, if set, is called with each object key just before the crawl reads it (a hook for
tests that need a crawl to be mid-way when they act).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tule.metadata import open_store
from tule.services.base import ServiceEnv
from tule.services.glue.crawlers import definitions
from tule.services.glue.crawlers.classifiers import Classifiers
from tule.services.glue.crawlers.crawler_store import (
    CrawlerStore,
    CrawlOutcome,
    crawler_arn,
    crawler_shape,
    finished,
    metrics_shape,
)
from tule.services.glue.crawlers.errors import (
    crawler_exists,
    crawler_missing,
    crawler_not_found,
    crawler_not_running,
    crawler_running,
    crawler_stopping,
)
from tule.services.glue.crawlers.run import Crawl
from tule.services.glue.crawlers.writer import CatalogPort

__all__ = ["Crawlers"]

Shape = dict[str, Any]
_INTERRUPTED = "The crawl was interrupted: the tule server stopped while the crawler was running."


class TagPort(Protocol):
    def get(self, arn: str) -> dict[str, str]: ...
    def add(self, arn: str, tags: dict[str, str]) -> None: ...
    def drop(self, arn: str) -> None: ...


class GluePort(Protocol):
    """What crawlers use of the Glue domain they are part of."""

    catalog: CatalogPort
    tags: TagPort

    def register_taggable(self, kind: str, exists: Callable[[str, str, str], bool]) -> None: ...


@dataclass
class _Run:
    thread: threading.Thread
    cancel: threading.Event


class Crawlers:
    """The crawlers of every (account, region) of one tule instance."""

    def __init__(self, env: ServiceEnv, glue: GluePort) -> None:
        env.data_dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.clock = env.clock
        self.catalog = glue.catalog
        self.tags = glue.tags
        self._store = open_store(str(env.data_dir / "crawlers.db"), fsync=env.fsync)
        self.store = CrawlerStore(self._store)
        self.classifiers = Classifiers(self._store, env.clock)
        self.on_file: Callable[[str], None] | None = None
        self._lock = threading.RLock()
        self._runs: dict[tuple[str, str, str], _Run] = {}
        self._closing = False
        glue.register_taggable("crawler", lambda a, r, n: self.store.get(a, r, n) is not None)
        self._recover()

    def _recover(self) -> None:
        """Crawls cut short by a stop of the server end FAILED; their crawlers are READY."""
        now = self.clock.time()
        for account, region, record in self.store.everywhere():
            if record["State"] != "READY":
                record.setdefault("run", {"StartTime": now, "MessagePrefix": str(uuid.uuid4())})
                outcome = CrawlOutcome("FAILED", _INTERRUPTED, 0, 0, 0)
                self.store.put(account, region, finished(record, outcome, now))

    def close(self) -> None:
        with self._lock:
            self._closing = True
            runs = list(self._runs.values())
        for run in runs:
            run.cancel.set()
        for run in runs:
            run.thread.join(timeout=30)
        self._store.close()

    # Records

    def _require(self, account: str, region: str, name: str, *, get: bool = False) -> Shape:
        record = self.store.get(account, region, name)
        if record is None:
            raise crawler_not_found(name) if get else crawler_missing(name)
        return record

    def create_crawler(self, account: str, region: str, request: Shape) -> None:
        name = request["Name"]
        now = self.clock.time()
        record = {
            "Name": name,
            "definition": definitions.definition(request),
            "State": "READY",
            "CreationTime": now,
            "LastUpdated": now,
            "Version": 1,
        }
        with self._lock:
            if not self.store.create(account, region, record):
                raise crawler_exists(name)
            if request.get("Tags"):
                self.tags.add(crawler_arn(account, region, name), dict(request["Tags"]))

    def update_crawler(self, account: str, region: str, request: Shape) -> None:
        name = request["Name"]
        with self._lock:
            record = self._require(account, region, name, get=True)
            if record["State"] != "READY":
                raise crawler_running(name)
            record["definition"] = definitions.definition(request, record["definition"])
            record["Version"] += 1
            record["LastUpdated"] = self.clock.time()
            self.store.put(account, region, record)

    def delete_crawler(self, account: str, region: str, name: str) -> None:
        with self._lock:
            record = self._require(account, region, name)
            if record["State"] != "READY":
                raise crawler_running(name)
            self.store.delete(account, region, name)
            self.tags.drop(crawler_arn(account, region, name))

    def get_crawler(self, account: str, region: str, name: str) -> Shape:
        return crawler_shape(self._require(account, region, name, get=True), self.clock.time())

    def get_crawlers(self, account: str, region: str) -> list[Shape]:
        now = self.clock.time()
        out = []
        for name in self.store.names(account, region):
            record = self.store.get(account, region, name)
            if record is not None:
                out.append(crawler_shape(record, now))
        return out

    def crawler_names(
        self, account: str, region: str, tags: dict[str, str] | None = None
    ) -> list[str]:
        names = self.store.names(account, region)
        if not tags:
            return names
        wanted = tags.items()
        return [
            n for n in names if wanted <= self.tags.get(crawler_arn(account, region, n)).items()
        ]

    def crawler_metrics(
        self, account: str, region: str, names: list[str] | None = None
    ) -> list[Shape]:
        now = self.clock.time()
        out = []
        for name in self.store.names(account, region) if names is None else names:
            record = self.store.get(account, region, name)
            if record is not None:
                out.append(metrics_shape(record, now))
        return out

    # Runs

    def start_crawler(self, account: str, region: str, name: str) -> None:
        with self._lock:
            record = self._require(account, region, name)
            if record["State"] != "READY":
                raise crawler_running(name)
            run_id = str(uuid.uuid4())
            record["State"] = "RUNNING"
            record["run"] = {"StartTime": self.clock.time(), "MessagePrefix": run_id}
            self.store.put(account, region, record)
            cancel = threading.Event()
            crawl = Crawl(
                account=account,
                region=region,
                name=name,
                definition=record["definition"],
                run_id=run_id,
                s3=self.env.peer("s3"),
                logs=self.env.peer("logs"),
                catalog=self.catalog,
                classifiers=self.classifiers,
                store=self.store,
                clock=self.clock,
                cancel=cancel,
                on_file=self.on_file,
            )
            thread = threading.Thread(
                target=self._execute, args=(crawl,), name=f"glue-crawler-{name}", daemon=True
            )
            self._runs[(account, region, name)] = _Run(thread, cancel)
            thread.start()

    def _execute(self, crawl: Crawl) -> None:
        outcome = crawl.run()
        with self._lock:
            key = (crawl.account, crawl.region, crawl.name)
            self._runs.pop(key, None)
            record = self.store.get(crawl.account, crawl.region, crawl.name)
            if record is None:
                return
            if self._closing and outcome.status == "CANCELLED" and record["State"] == "RUNNING":
                # Cancelled by the server stopping, not by StopCrawler.
                outcome = CrawlOutcome("FAILED", _INTERRUPTED, 0, 0, 0)
            # AWS passes through STOPPING while a crawl finishes; readers may see it briefly.
            self.store.put(crawl.account, crawl.region, record | {"State": "STOPPING"})
            self.store.put(
                crawl.account, crawl.region, finished(record, outcome, self.clock.time())
            )

    def stop_crawler(self, account: str, region: str, name: str) -> None:
        with self._lock:
            record = self._require(account, region, name)
            if record["State"] == "READY":
                raise crawler_not_running(name)
            if record["State"] == "STOPPING":
                raise crawler_stopping(name)
            record["State"] = "STOPPING"
            self.store.put(account, region, record)
            run = self._runs.get((account, region, name))
            if run is not None:
                run.cancel.set()

    def wait(self, account: str, region: str, name: str, timeout: float = 30.0) -> Shape:
        """The crawler once it is READY again (for tests and tools; polls the record)."""
        run = self._runs.get((account, region, name))
        if run is not None:
            run.thread.join(timeout)
        deadline = time.monotonic() + timeout
        while True:
            shape = self.get_crawler(account, region, name)
            if shape["State"] == "READY" or time.monotonic() > deadline:
                return shape
            time.sleep(0.01)
