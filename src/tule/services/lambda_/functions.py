"""Function management: create, update, publish, delete, list, tag.

Writers serialize on one lock (functions change rarely; invocations only read). A change to a
function's code or configuration gives `$LATEST` a new RevisionId, which is also what makes
the worker pool stop reusing the old workers (`on_change` retires them at once).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from tule.clock import Clock
from tule.errors import AwsError
from tule.services.lambda_.catalog import Catalog, FunctionEntry
from tule.services.lambda_.code import CodeStore, StoredCode
from tule.services.lambda_.configuration import apply_settings, check_runtime
from tule.services.lambda_.errors import (
    function_exists,
    function_not_found,
    invalid_parameter,
    precondition_failed,
)
from tule.services.lambda_.models import FunctionConfig, last_modified
from tule.services.lambda_.names import LATEST, FunctionRef, parse_function

DEFAULT_MAX_ITEMS = 50


def _same_code_and_settings(a: FunctionConfig, b: FunctionConfig) -> bool:
    """Whether publishing `a` would repeat version `b` (Lambda then returns `b`)."""
    ignore = {"version": "", "last_modified": "", "revision_id": "", "description": ""}
    return replace(a, **ignore) == replace(b, **ignore)


class Functions:
    """The functions of every account and region."""

    def __init__(
        self,
        catalog: Catalog,
        code: CodeStore,
        clock: Clock,
        s3: Callable[[], Any],
        on_change: Callable[[str, str, str, str | None], None],
    ) -> None:
        self.catalog = catalog
        self.code = code
        self.clock = clock
        self._s3 = s3
        self._on_change = on_change
        self._lock = threading.RLock()

    # Lookups

    def entry(self, ref: FunctionRef) -> FunctionEntry:
        entry = self.catalog.get(ref.account, ref.region, ref.name)
        if entry is None:
            raise function_not_found(ref.arn)
        return entry

    def resolve(self, ref: FunctionRef) -> FunctionConfig:
        """The configuration a (possibly qualified) function reference names."""
        entry = self.entry(ref)
        if ref.qualifier in (None, LATEST):
            return entry.latest
        version = self.catalog.get_version(ref.account, ref.region, ref.name, ref.qualifier or "")
        if version is None:
            raise function_not_found(ref.arn)
        return version

    # Code

    def _stored_code(self, code: dict[str, Any]) -> StoredCode:
        if code.get("ImageUri"):
            raise invalid_parameter("Container images (ImageUri) are not supported by tule.")
        if code.get("ZipFile") is not None:
            if code.get("S3Bucket") or code.get("S3Key"):
                raise invalid_parameter(
                    "Please do not provide other FunctionCode parameters when providing a ZipFile."
                )
            return self.code.add(code["ZipFile"])
        bucket, key = code.get("S3Bucket"), code.get("S3Key")
        if not bucket or not key:
            raise invalid_parameter("Please provide a source for function code.")
        if code.get("S3ObjectVersion"):
            raise invalid_parameter("S3ObjectVersion is not supported by tule yet.")
        try:
            data = b"".join(self._s3().read_object(bucket, key))
        except AwsError as err:
            raise invalid_parameter(
                f"Error occurred while GetObject. S3 Error Code: {err.code}. S3 Error "
                f"Message: {err.message}"
            ) from None
        return self.code.add(data)

    # Changes

    def _stamp(self, config: FunctionConfig) -> FunctionConfig:
        return replace(
            config, last_modified=last_modified(self.clock.now()), revision_id=str(uuid.uuid4())
        )

    def create(self, account: str, region: str, request: dict[str, Any]) -> FunctionConfig:
        ref = parse_function(request["FunctionName"], account, region)
        if request.get("PackageType", "Zip") != "Zip":
            raise invalid_parameter(
                "PackageType Image is not supported by tule: only Zip packages run here."
            )
        if not request.get("Runtime") or not request.get("Handler"):
            raise invalid_parameter(
                "Runtime and Handler are mandatory parameters for functions created with "
                "deployment packages."
            )
        check_runtime(request["Runtime"])
        code = self._stored_code(request["Code"])
        config = FunctionConfig(
            account=account,
            region=region,
            name=ref.name,
            version=LATEST,
            runtime=request["Runtime"],
            role=request["Role"],
            handler=request["Handler"],
            code_sha256=code.sha256,
            code_size=code.size,
            architectures=tuple(request.get("Architectures") or ("x86_64",)),
        )
        config = self._stamp(apply_settings(config, request))
        entry = FunctionEntry(config, dict(request.get("Tags") or {}))
        with self._lock:
            if not self.catalog.create(entry):
                raise function_exists(ref.name)
            if request.get("Publish"):
                return self._publish(entry, None)
        return config

    def _update(
        self, ref: FunctionRef, revision_id: str | None, change: Callable[[FunctionConfig], Any]
    ) -> FunctionConfig:
        with self._lock:
            entry = self.entry(ref)
            if revision_id is not None and revision_id != entry.latest.revision_id:
                raise precondition_failed()
            config = self._stamp(change(entry.latest))
            self.catalog.put(replace(entry, latest=config))
        self._on_change(ref.account, ref.region, ref.name, LATEST)
        return config

    def update_code(self, ref: FunctionRef, request: dict[str, Any]) -> FunctionConfig:
        code = self._stored_code(request)
        architectures = request.get("Architectures")

        def change(config: FunctionConfig) -> FunctionConfig:
            new = replace(config, code_sha256=code.sha256, code_size=code.size)
            return replace(new, architectures=tuple(architectures)) if architectures else new

        if request.get("DryRun"):
            return change(self.entry(ref).latest)
        config = self._update(ref, request.get("RevisionId"), change)
        if request.get("Publish"):
            return self.publish(ref)
        return config

    def update_configuration(self, ref: FunctionRef, request: dict[str, Any]) -> FunctionConfig:
        return self._update(
            ref, request.get("RevisionId"), lambda config: apply_settings(config, request)
        )

    def publish(
        self,
        ref: FunctionRef,
        *,
        code_sha256: str | None = None,
        description: str | None = None,
        revision_id: str | None = None,
    ) -> FunctionConfig:
        with self._lock:
            entry = self.entry(ref)
            latest = entry.latest
            if revision_id is not None and revision_id != latest.revision_id:
                raise precondition_failed()
            if code_sha256 is not None and code_sha256 != latest.code_sha256:
                raise invalid_parameter(
                    f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in "
                    f"$LATEST ({latest.code_sha256}). Please try again with the CodeSHA256 in "
                    "$LATEST."
                )
            return self._publish(entry, description)

    def _publish(self, entry: FunctionEntry, description: str | None) -> FunctionConfig:
        latest = entry.latest
        if entry.last_version:
            previous = self.catalog.get_version(
                latest.account, latest.region, latest.name, str(entry.last_version)
            )
            if previous is not None and _same_code_and_settings(latest, previous):
                return previous
        version = self._stamp(
            replace(
                latest,
                version=str(entry.last_version + 1),
                description=latest.description if description is None else description,
            )
        )
        self.catalog.publish(entry, version)
        return version

    def delete(self, ref: FunctionRef) -> None:
        with self._lock:
            self.entry(ref)
            if ref.qualifier is None:
                self.catalog.delete(ref.account, ref.region, ref.name)
            elif ref.qualifier == LATEST:
                raise invalid_parameter(
                    "$LATEST version cannot be deleted without deleting the function."
                )
            elif not self.catalog.delete_version(ref.account, ref.region, ref.name, ref.qualifier):
                raise function_not_found(ref.arn)
        self._on_change(ref.account, ref.region, ref.name, ref.qualifier)

    # Listings

    def list(
        self,
        account: str,
        region: str,
        *,
        all_versions: bool = False,
        marker: str | None = None,
        max_items: int | None = None,
    ) -> tuple[list[FunctionConfig], str | None]:
        """One page of configurations in name (then version) order, and the next marker."""
        limit = max_items or DEFAULT_MAX_ITEMS
        after_name, after_version = _read_marker(marker)
        found: list[FunctionConfig] = []
        for config in self._listing(account, region, all_versions, after_name, after_version):
            if len(found) == limit:
                last = found[-1]
                return found, _make_marker(last.name, last.version)
            found.append(config)
        return found, None

    def _listing(
        self,
        account: str,
        region: str,
        all_versions: bool,
        after_name: str | None,
        after_version: str | None,
    ) -> Iterator[FunctionConfig]:
        if after_name is not None and all_versions:
            # The rest of the function the last page ended in.
            for version in self.catalog.versions(account, region, after_name):
                if _order(version.version) > _order(after_version):
                    yield version
        for entry in self.catalog.functions(account, region, after_name=after_name):
            yield entry.latest
            if all_versions:
                yield from self.catalog.versions(account, region, entry.latest.name)

    def versions(
        self, ref: FunctionRef, *, marker: str | None = None, max_items: int | None = None
    ) -> tuple[list[FunctionConfig], str | None]:
        entry = self.entry(ref)
        limit = max_items or DEFAULT_MAX_ITEMS
        _, after_version = _read_marker(marker)
        found: list[FunctionConfig] = []
        for config in _chain(
            entry.latest, self.catalog.versions(ref.account, ref.region, ref.name)
        ):
            if after_version is not None and _order(config.version) <= _order(after_version):
                continue
            if len(found) == limit:
                return found, _make_marker(ref.name, found[-1].version)
            found.append(config)
        return found, None

    # Tags

    def tags(self, ref: FunctionRef) -> dict[str, str]:
        return dict(self.entry(ref).tags)

    def tag(self, ref: FunctionRef, tags: dict[str, str]) -> None:
        with self._lock:
            entry = self.entry(ref)
            self.catalog.put(replace(entry, tags={**entry.tags, **tags}))

    def untag(self, ref: FunctionRef, keys: list[str]) -> None:
        with self._lock:
            entry = self.entry(ref)
            kept = {k: v for k, v in entry.tags.items() if k not in set(keys)}
            self.catalog.put(replace(entry, tags=kept))

    def usage(self, account: str, region: str) -> tuple[int, int]:
        """(total code size of functions and versions, function count)."""
        total = count = 0
        for entry in self.catalog.functions(account, region):
            count += 1
            total += entry.latest.code_size
            total += sum(
                v.code_size for v in self.catalog.versions(account, region, entry.latest.name)
            )
        return total, count


def _chain(latest: FunctionConfig, versions: Iterator[FunctionConfig]) -> Iterator[FunctionConfig]:
    yield latest
    yield from versions


def _order(version: str | None) -> int:
    """$LATEST sorts before the numbered versions, as Lambda lists them."""
    if version is None:
        return -1
    return 0 if version == LATEST else int(version)


def _make_marker(name: str, version: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([name, version]).encode()).decode()


def _read_marker(marker: str | None) -> tuple[str | None, str | None]:
    if not marker:
        return None, None
    try:
        name, version = json.loads(base64.urlsafe_b64decode(marker.encode()))
        _order(version)
        return str(name), str(version)
    except (ValueError, TypeError):
        raise invalid_parameter(f"Invalid marker: {marker}") from None
