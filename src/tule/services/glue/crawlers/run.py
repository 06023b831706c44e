"""One crawl: list each S3 target, classify its files, group them into tables, write the catalog.

`Crawl.run()` is what the crawl thread executes (never a request). It stops early, between
files and between tables, once `cancel` is set (StopCrawler) and then reports CANCELLED. It
writes progress to CloudWatch Logs (`/aws-glue/crawlers`, stream = crawler name), each line
prefixed with the run's id, which LastCrawl.MessagePrefix names.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from tule.clock import Clock
from tule.errors import AwsError
from tule.services.glue.crawlers import definitions
from tule.services.glue.crawlers.catalog_values import partition_input, table_input
from tule.services.glue.crawlers.classifiers import Classifiers
from tule.services.glue.crawlers.classify import CustomRule, classify
from tule.services.glue.crawlers.crawler_store import LOG_GROUP, CrawlerStore, CrawlOutcome
from tule.services.glue.crawlers.grouping import CrawledFile, TablePlan, plan_tables
from tule.services.glue.crawlers.paths import S3Path, excluded, skipped, table_name
from tule.services.glue.crawlers.schema import FileSchema
from tule.services.glue.crawlers.writer import CatalogPort, CatalogWriter, PlannedTable

log = logging.getLogger("tule.glue.crawlers")

Shape = dict[str, Any]


class Cancelled(Exception):
    """StopCrawler asked this crawl to stop."""


@dataclass
class Target:
    """One S3 target's data files, as the crawl found them."""

    path: S3Path
    root_name: str  # the include path's last component (the bucket for a bucket root)
    files: list[CrawledFile] = field(default_factory=list)
    single_file: bool = False

    def location(self, relative: str) -> str:
        if self.single_file:
            return self.path.url(self.path.prefix)
        return self.path.url(self.path.folder + relative)


@dataclass
class Crawl:
    """Everything one crawl needs; `run()` does it."""

    account: str
    region: str
    name: str
    definition: Shape
    run_id: str
    s3: Any
    logs: Any
    catalog: CatalogPort
    classifiers: Classifiers
    store: CrawlerStore
    clock: Clock
    cancel: threading.Event
    on_file: Callable[[str], None] | None = None  # called before each file is read

    def log(self, message: str) -> None:
        try:
            self.logs.ensure_stream(self.account, self.region, LOG_GROUP, self.name)
            line = f"[{self.run_id}] {message}"
            self.logs.append(
                self.account,
                self.region,
                LOG_GROUP,
                self.name,
                [(int(self.clock.time() * 1000), line)],
            )
        except Exception:
            log.exception("could not write crawler log line")

    def _check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled

    def run(self) -> CrawlOutcome:
        self.log(f"BENCHMARK : Running Start Crawl for Crawler {self.name}")
        self.log("INFO : Crawler has started")
        try:
            outcome = self._crawl()
        except Cancelled:
            self.log("INFO : Crawler was stopped (StopCrawler)")
            outcome = CrawlOutcome("CANCELLED", None, 0, 0, 0)
        except AwsError as e:
            outcome = self._failed(e.message)
        except Exception as e:
            log.exception("crawler %s failed", self.name)
            outcome = self._failed(f"Internal error while crawling: {e}")
        self.log("BENCHMARK : Crawler has finished running and is in state READY")
        return outcome

    def _failed(self, message: str) -> CrawlOutcome:
        self.log(f"ERROR : {message}")
        return CrawlOutcome("FAILED", message, 0, 0, 0)

    def _crawl(self) -> CrawlOutcome:
        d = self.definition
        database = d.get("DatabaseName")
        if not database:
            return self._failed("The crawler has no DatabaseName; set one with UpdateCrawler.")
        try:
            self.catalog.get_database(self.account, self.region, database)
        except AwsError as e:
            if e.code != "EntityNotFoundException":
                raise
            return self._failed(f"Database {database} not found.")
        rules, missing = self.classifiers.rules(
            self.account, self.region, list(d.get("Classifiers") or [])
        )
        for name in missing:
            self.log(f"WARN : Classifier {name} does not exist; it was not applied")
        policy = d.get("SchemaChangePolicy") or {}
        self.log(
            "INFO : Crawler configured with SchemaChangePolicy "
            f'{{"UpdateBehavior":"{policy.get("UpdateBehavior")}",'
            f'"DeleteBehavior":"{policy.get("DeleteBehavior")}"}}'
        )
        new_only = (d.get("RecrawlPolicy") or {}).get("RecrawlBehavior") == "CRAWL_NEW_FOLDERS_ONLY"
        crawled_before = (
            self.store.crawled_folders(self.account, self.region, self.name) if new_only else set()
        )
        existing = {
            t["Name"]: t for t in self.catalog.get_tables(self.account, self.region, database)
        }
        planned: list[PlannedTable] = []
        taken: set[str] = set()
        locations: list[str] = []
        folders: set[str] = set()
        for raw in (d.get("Targets") or {}).get("S3Targets") or []:
            target = self._list(raw, rules, crawled_before, folders)
            locations.append(target.location(""))
            level = definitions.table_level(d.get("Configuration"))
            plans = plan_tables(
                target.files,
                combine_all=definitions.combine_compatible(d.get("Configuration")),
                table_depth=None if level is None else max(0, level - _depth(target.path)),
            )
            for plan in plans:
                planned.append(self._planned(target, plan, existing, taken))
        self._check()
        self.log(f"BENCHMARK : Classification complete, writing results to database {database}")
        writer = CatalogWriter(
            self.catalog,
            self.account,
            self.region,
            database,
            self.name,
            policy,
            new_only,
            self.log,
            self.clock.time(),
        )
        for table in planned:
            self._check()
            writer.write(table, existing.get(table.name))
        writer.remove_missing(list(existing.values()), locations)
        self.store.add_crawled_folders(self.account, self.region, self.name, folders)
        self.log("BENCHMARK : Finished writing to Catalog")
        c = writer.counts
        return CrawlOutcome("SUCCEEDED", None, c.created, c.updated, c.deleted)

    def _list(
        self, raw: Shape, rules: list[CustomRule], crawled_before: set[str], folders: set[str]
    ) -> Target:
        path = S3Path.parse(raw["Path"])
        exclusions = tuple(raw.get("Exclusions") or ())
        sample_size = raw.get("SampleSize")
        prefix_name = path.prefix.rstrip("/").rsplit("/", 1)[-1]
        target = Target(path, prefix_name or path.bucket)
        sampled: dict[tuple[str, ...], tuple[FileSchema, int, int]] = {}
        for obj in self.s3.list_objects(path.bucket, path.prefix):
            if obj.key == path.prefix and not path.prefix.endswith("/") and obj.size:
                # The include path names one object: that file is the table.
                target.single_file = True
                schema = self._classify(path, obj.key, obj.size, rules)
                target.files = (
                    [CrawledFile((), obj.key.rsplit("/", 1)[-1], obj.size, schema)]
                    if schema
                    else []
                )
                return target
            if not obj.key.startswith(path.folder):
                continue
            relative = obj.key[len(path.folder) :]
            if skipped(relative, obj.size) or excluded(relative, exclusions):
                continue
            *parts, name = relative.split("/")
            folder = path.url(path.folder + "".join(p + "/" for p in parts))
            if folder in crawled_before:
                continue
            key = tuple(parts)
            seen = sampled.get(key)
            if sample_size and seen is not None and seen[2] >= sample_size:
                # Past SampleSize files in this folder: counted, not read (AWS's SampleSize).
                base, base_size, count = seen
                scaled = round(base.records * obj.size / base_size) if base_size else 0
                sampled[key] = (base, base_size, count + 1)
                target.files.append(CrawledFile(key, name, obj.size, replace(base, records=scaled)))
                folders.add(folder)
                continue
            schema = self._classify(path, obj.key, obj.size, rules)
            if schema is None:
                continue
            sampled[key] = (schema, obj.size, (seen[2] if seen else 0) + 1)
            target.files.append(CrawledFile(key, name, obj.size, schema))
            folders.add(folder)
        return target

    def _classify(
        self, path: S3Path, key: str, size: int, rules: list[CustomRule]
    ) -> FileSchema | None:
        self._check()
        if self.on_file is not None:
            self.on_file(key)
            self._check()
        schema = classify(self.s3.read_object(path.bucket, key), size, rules)
        if schema is None:
            self.log(
                f"INFO : Skipped s3://{path.bucket}/{key}: no classifier recognized its format"
            )
        return schema

    def _planned(
        self, target: Target, plan: TablePlan, existing: dict[str, Shape], taken: set[str]
    ) -> PlannedTable:
        location = target.location(plan.relative_location)
        component = plan.single_file or (plan.root[-1] if plan.root else target.root_name)
        base = table_name(component, self.definition.get("TablePrefix") or "")
        name = base
        other = existing.get(name)
        other_location = ((other or {}).get("StorageDescriptor") or {}).get("Location")
        if name in taken or (other is not None and other_location != location):
            # AWS: a second table of the same name gets a hash suffix.
            name = f"{base}_{hashlib.md5(location.encode()).hexdigest()[:8]}"
        taken.add(name)
        schema = plan.schema
        return PlannedTable(
            table_input(name, schema, plan.files, location, plan.partition_keys, self.name),
            [
                partition_input(
                    p.values, p.schema, p.files, location + p.folder, plan.partition_keys, self.name
                )
                for p in plan.partitions
            ],
        )


def _depth(path: S3Path) -> int:
    """The include path's level, counting the bucket as level 1 (TableLevelConfiguration's)."""
    return 1 + len([p for p in path.prefix.split("/") if p])
