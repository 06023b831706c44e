"""Saved SQL: named queries (a workgroup's library of query texts, by generated id) and
prepared statements (parameterised queries run by `EXECUTE name USING ...`, by name within a
workgroup)."""

from __future__ import annotations

import threading
import uuid

from tule.clock import Clock
from tule.metadata.base import MetadataStore
from tule.services.athena.errors import invalid_request, resource_not_found
from tule.services.athena.records import Record, RecordPage, page, scope


class NamedQueries:
    """NamedQuery records; CreateNamedQuery is idempotent on its ClientRequestToken."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self._lock = threading.Lock()

    def create(self, account: str, region: str, query: Record, token: str | None) -> str:
        with self._lock:
            token_key = scope("nt", account, region) + token if token else None
            if token_key is not None:
                seen = self.store.get(token_key)
                if seen is not None:
                    return str(seen["id"])
            named_id = str(uuid.uuid4())
            self.store.put(
                scope("n", account, region) + named_id, {**query, "NamedQueryId": named_id}
            )
            if token_key is not None:
                self.store.put(token_key, {"id": named_id})
            return named_id

    def find(self, account: str, region: str, named_id: str) -> Record | None:
        return self.store.get(scope("n", account, region) + named_id)

    def get(self, account: str, region: str, named_id: str) -> Record:
        found = self.find(account, region, named_id)
        if found is None:
            raise invalid_request(f"NamedQuery {named_id} was not found", "INVALID_INPUT")
        return found

    def update(self, account: str, region: str, named_id: str, changes: Record) -> None:
        with self._lock:
            record = self.get(account, region, named_id)
            record.update({k: v for k, v in changes.items() if v is not None})
            self.store.put(scope("n", account, region) + named_id, record)

    def delete(self, account: str, region: str, named_id: str) -> None:
        if not self.store.delete(scope("n", account, region) + named_id):
            raise invalid_request(f"NamedQuery {named_id} was not found", "INVALID_INPUT")

    def list_ids(self, account: str, region: str, workgroup: str) -> list[str]:
        prefix = scope("n", account, region)
        out, after = [], None
        while True:
            result = self.store.list(prefix, start_after=after, limit=1000)
            out += [r["NamedQueryId"] for _, r in result.items if r.get("WorkGroup") == workgroup]
            if result.next_after is None:
                return out
            after = result.next_after


class PreparedStatements:
    """PreparedStatement records, by name within a workgroup."""

    def __init__(self, store: MetadataStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()

    @staticmethod
    def _prefix(account: str, region: str, workgroup: str) -> str:
        return scope("p", account, region) + workgroup + "/"

    def create(
        self,
        account: str,
        region: str,
        workgroup: str,
        name: str,
        sql: str,
        description: str | None,
    ) -> None:
        key = self._prefix(account, region, workgroup) + name
        record = {
            "StatementName": name,
            "QueryStatement": sql,
            "WorkGroupName": workgroup,
            "Description": description,
            "LastModifiedTime": self.clock.time(),
        }
        if not self.store.compare_and_set(key, None, record):
            raise invalid_request(f"Prepared statement {name} already exists", "ALREADY_EXISTS")

    def update(
        self,
        account: str,
        region: str,
        workgroup: str,
        name: str,
        sql: str,
        description: str | None,
    ) -> None:
        with self._lock:
            record = self.get(account, region, workgroup, name)
            record.update(
                QueryStatement=sql, Description=description, LastModifiedTime=self.clock.time()
            )
            self.store.put(self._prefix(account, region, workgroup) + name, record)

    def find(self, account: str, region: str, workgroup: str, name: str) -> Record | None:
        return self.store.get(self._prefix(account, region, workgroup) + name)

    def get(self, account: str, region: str, workgroup: str, name: str) -> Record:
        found = self.find(account, region, workgroup, name)
        if found is None:
            raise resource_not_found(f"Prepared statement {name} does not exist")
        return found

    def delete(self, account: str, region: str, workgroup: str, name: str) -> None:
        if not self.store.delete(self._prefix(account, region, workgroup) + name):
            raise resource_not_found(f"Prepared statement {name} does not exist")

    def list(
        self, account: str, region: str, workgroup: str, limit: int, token: str | None
    ) -> RecordPage:
        return page(self.store, self._prefix(account, region, workgroup), limit, token)
