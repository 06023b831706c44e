"""Tags on SageMaker resources: AddTags, ListTags, DeleteTags, addressed by ARN.

Tags live in their own records (`tags/<arn>`), so any resource type can carry them; a
resource's existence is checked through the `exists` callback its owner registers.
"""

from __future__ import annotations

from collections.abc import Callable

from tule.metadata.base import MetadataStore
from tule.services.sagemaker import arns, errors

MAX_TAGS = 50  # per resource (SageMaker's documented limit)
_PREFIX = "tags/"


class Tags:
    """Tags of every SageMaker resource."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        # Resource type (`training-job`) -> whether a resource has a given ARN.
        self.resolvers: dict[str, Callable[[str], bool]] = {}

    def _check(self, arn: str) -> None:
        parsed = arns.parse(arn)
        if parsed is None:
            raise errors.validation(f"Invalid resource ARN: {arn}")
        exists = self.resolvers.get(parsed[2])
        if exists is None or not exists(arn):
            raise errors.validation(f"Resource {arn} not found.")

    def get(self, arn: str) -> dict[str, str]:
        record = self.store.get(_PREFIX + arn) or {}
        return dict(record.get("tags") or {})

    def put_all(self, arn: str, tags: list[dict[str, str]]) -> None:
        """Tags given at creation (the resource is being created, so it is not checked)."""
        if tags:
            self._write(arn, self.get(arn), tags)

    def add(self, arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
        self._check(arn)
        self._write(arn, self.get(arn), tags)
        return tags

    def _write(self, arn: str, current: dict[str, str], tags: list[dict[str, str]]) -> None:
        merged = current | {t["Key"]: t.get("Value", "") for t in tags}
        if len(merged) > MAX_TAGS:
            raise errors.resource_limit(
                f"You can't add more than {MAX_TAGS} tags to the resource {arn}."
            )
        self.store.put(_PREFIX + arn, {"tags": merged})

    def forget(self, arn: str) -> None:
        """Drop every tag of a deleted resource (a new one of the same name starts untagged)."""
        self.store.delete(_PREFIX + arn)

    def delete(self, arn: str, keys: list[str]) -> None:
        self._check(arn)
        current = self.get(arn)
        for key in keys:
            current.pop(key, None)
        self.store.put(_PREFIX + arn, {"tags": current})

    def list(
        self, arn: str, next_token: str | None, max_results: int | None
    ) -> tuple[list[dict[str, str]], str | None]:
        self._check(arn)
        items = sorted(self.get(arn).items())
        start = 0
        if next_token:
            try:
                start = int(next_token)
            except ValueError:
                raise errors.validation("Invalid pagination token.") from None
        limit = max_results or 50
        page = items[start : start + limit]
        more = start + limit < len(items)
        return [{"Key": k, "Value": v} for k, v in page], (str(start + limit) if more else None)
