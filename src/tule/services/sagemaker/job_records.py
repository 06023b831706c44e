"""The control plane shared by processing and transform jobs: a job is created once (its name
unique in the account and region) and handed to its runner; Describe, List, and Stop (which
moves an InProgress job to Stopping and tells the runner).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from tule.clock import Clock
from tule.metadata.base import MetadataStore
from tule.services.sagemaker import errors
from tule.services.sagemaker.listing import Listing
from tule.services.sagemaker.records import Record, Records

TERMINAL = frozenset({"Completed", "Failed", "Stopped"})


class Runner(Protocol):
    """What executes jobs: told when one is created and when one should stop."""

    def submit(self, account: str, region: str, name: str) -> None: ...

    def stop(self, account: str, region: str, name: str) -> None: ...


class JobRecords:
    """The records of one kind of job (`noun` is "processing" or "transform")."""

    def __init__(
        self,
        store: MetadataStore,
        clock: Clock,
        *,
        kind: str,
        noun: str,
        prefix: str,
        listing: Listing,
        not_found: Callable[[str, str, str], Exception],
    ) -> None:
        self.clock = clock
        self.noun = noun
        self.status_member = f"{prefix}JobStatus"
        self.arn_member = f"{prefix}JobArn"
        self.listing = listing
        self.records = Records(store, kind, not_found)
        self.runner: Runner | None = None

    def get(self, account: str, region: str, name: str) -> Record:
        return self.records.get(account, region, name)

    def update(
        self, account: str, region: str, name: str, change: Callable[[Record], None]
    ) -> Record:
        return self.records.update(account, region, name, change)

    def start(self, account: str, region: str, name: str, record: Record) -> None:
        """Store a new job (ResourceInUse when the name is taken) and hand it to the runner."""
        if not self.records.create(account, region, name, record):
            existing = self.get(account, region, name)
            raise errors.resource_in_use(
                f"{self.noun.capitalize()} job names must be unique within an AWS account and "
                f"region, and a {self.noun} job with this name already exists "
                f"({existing[self.arn_member]})"
            )
        if self.runner is not None:
            self.runner.submit(account, region, name)

    def exists(self, arn: str) -> bool:
        """Whether a job of this kind has this ARN (tag operations)."""
        return self.records.exists_arn(arn)

    def describe(self, account: str, region: str, name: str) -> Record:
        return self.get(account, region, name)

    def stop(self, account: str, region: str, name: str) -> None:
        def change(record: Record) -> None:
            status = record[self.status_member]
            if status in TERMINAL:
                raise errors.validation(
                    f"The request was rejected because the {self.noun} job is in status {status}."
                )
            if status == "InProgress":
                record[self.status_member] = "Stopping"
                record["LastModifiedTime"] = self.clock.time()

        self.update(account, region, name, change)
        if self.runner is not None:
            self.runner.stop(account, region, name)

    def list(
        self, account: str, region: str, request: dict[str, Any]
    ) -> tuple[list[Record], str | None]:
        """List*Jobs: filtered, sorted, a page at a time (the token is opaque)."""
        return self.listing.page(self.records.all(account, region), request)
