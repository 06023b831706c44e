"""Workgroups: named settings for queries (where results go, whether that is enforced).

`primary` exists in every account and region without being created (as in AWS) and cannot be
deleted. A workgroup's `Configuration.ResultConfiguration.OutputLocation` is used when a query
names none; with `EnforceWorkGroupConfiguration` it overrides what the query names.
"""

from __future__ import annotations

import threading
from typing import Any

from tule.clock import Clock
from tule.metadata.base import MetadataStore
from tule.services.athena.errors import invalid_request, workgroup_not_found
from tule.services.athena.records import Record, RecordPage, page, scope

PRIMARY = "primary"
ENGINE_VERSION = {
    "SelectedEngineVersion": "AUTO",
    "EffectiveEngineVersion": "Athena engine version 3",
}


def _default_configuration() -> dict[str, Any]:
    return {
        "ResultConfiguration": {},
        "EnforceWorkGroupConfiguration": False,
        "PublishCloudWatchMetricsEnabled": False,
        "RequesterPaysEnabled": False,
        "EngineVersion": dict(ENGINE_VERSION),
    }


class WorkGroups:
    """WorkGroup records (see the module docstring)."""

    def __init__(self, store: MetadataStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()

    def _key(self, account: str, region: str, name: str) -> str:
        return scope("w", account, region) + name

    def _primary(self) -> Record:
        return {
            "Name": PRIMARY,
            "State": "ENABLED",
            "Configuration": _default_configuration(),
            "Description": "",
            "CreationTime": 0.0,
        }

    def find(self, account: str, region: str, name: str) -> Record | None:
        found = self.store.get(self._key(account, region, name))
        if found is None and name == PRIMARY:
            return self._primary()
        return found

    def get(self, account: str, region: str, name: str) -> Record:
        found = self.find(account, region, name)
        if found is None:
            raise workgroup_not_found(name)
        return found

    def create(
        self,
        account: str,
        region: str,
        name: str,
        configuration: dict[str, Any] | None,
        description: str | None,
        tags: list[dict[str, str]] | None,
    ) -> None:
        config = _default_configuration()
        config.update(configuration or {})
        record = {
            "Name": name,
            "State": "ENABLED",
            "Configuration": config,
            "Description": description or "",
            "CreationTime": self.clock.time(),
            "Tags": list(tags or []),
        }
        with self._lock:
            if self.find(account, region, name) is not None:
                raise invalid_request("WorkGroup is already created", "ALREADY_EXISTS")
            self.store.put(self._key(account, region, name), record)

    def update(self, account: str, region: str, name: str, request: dict[str, Any]) -> None:
        with self._lock:
            record = self.get(account, region, name)
            if "Description" in request:
                record["Description"] = request["Description"]
            if "State" in request:
                record["State"] = request["State"]
            updates = request.get("ConfigurationUpdates") or {}
            config = record.setdefault("Configuration", _default_configuration())
            for key in (
                "EnforceWorkGroupConfiguration",
                "PublishCloudWatchMetricsEnabled",
                "BytesScannedCutoffPerQuery",
                "RequesterPaysEnabled",
                "EngineVersion",
            ):
                if key in updates:
                    config[key] = updates[key]
            if updates.get("RemoveBytesScannedCutoffPerQuery"):
                config.pop("BytesScannedCutoffPerQuery", None)
            result_updates = updates.get("ResultConfigurationUpdates") or {}
            result = config.setdefault("ResultConfiguration", {})
            for key in (
                "OutputLocation",
                "EncryptionConfiguration",
                "ExpectedBucketOwner",
                "AclConfiguration",
            ):
                if result_updates.get(f"Remove{key}"):
                    result.pop(key, None)
                elif key in result_updates:
                    result[key] = result_updates[key]
            self.store.put(self._key(account, region, name), record)

    def delete(self, account: str, region: str, name: str) -> None:
        if name == PRIMARY:
            raise invalid_request("Primary WorkGroup cannot be deleted", "INVALID_INPUT")
        if not self.store.delete(self._key(account, region, name)):
            raise workgroup_not_found(name)

    def list(self, account: str, region: str, limit: int, token: str | None) -> RecordPage:
        prefix = scope("w", account, region)
        result = page(self.store, prefix, limit, token)
        items = result.items
        if token is None and not any(r["Name"] == PRIMARY for _, r in items):
            items = [(prefix + PRIMARY, self._primary()), *items]
        return RecordPage(items, result.next_token)
