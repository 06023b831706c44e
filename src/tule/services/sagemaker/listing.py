"""The List* operations' shared rules: name/status/time filters, sorting and opaque page tokens.

Every SageMaker list call (ListTrainingJobs, ListModels, ListEndpoints, ListTransformJobs,
ListProcessingJobs, ...) filters with `NameContains` (case-insensitive), `StatusEquals` and
`CreationTime`/`LastModifiedTime` bounds (exclusive), sorts by `SortBy` (default CreationTime)
and `SortOrder` (default Ascending here, as AWS documents for most of them), and pages with an
opaque `NextToken` that names the last record shown, so records created between pages do not
shift the next page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tule.services.sagemaker import errors

Record = dict[str, Any]


@dataclass(frozen=True)
class Listing:
    """How one resource type lists: its name member, status member, SortBy values -> members,
    the members of a summary, and the page size when `MaxResults` is absent."""

    name_member: str
    sort_keys: Mapping[str, str]
    summary: Sequence[str]
    status_member: str | None = None
    default_sort: str = "CreationTime"
    default_max_results: int = 10

    def page(
        self, records: list[Record], request: Mapping[str, Any]
    ) -> tuple[list[Record], str | None]:
        """One page of summaries for `request`, and the token of the next page (or None)."""
        chosen = [r for r in records if self._matches(r, request)]
        sort_member = self.sort_keys[request.get("SortBy") or self.default_sort]
        descending = request.get("SortOrder") == "Descending"
        name = self.name_member
        chosen.sort(key=lambda r: (r.get(sort_member), r[name]), reverse=descending)
        start = 0
        token = request.get("NextToken")
        if token:
            after = _decode_token(token)
            positions = [(r.get(sort_member), r[name]) for r in chosen]
            start = next(
                (i for i, p in enumerate(positions) if (p < after if descending else p > after)),
                len(chosen),
            )
        limit = request.get("MaxResults") or self.default_max_results
        page = chosen[start : start + limit]
        next_token = None
        if start + limit < len(chosen) and page:
            last = page[-1]
            next_token = _encode_token((last.get(sort_member), last[name]))
        return [{k: r[k] for k in self.summary if k in r} for r in page], next_token

    def _matches(self, record: Record, request: Mapping[str, Any]) -> bool:
        contains = request.get("NameContains")
        if contains and contains.lower() not in record[self.name_member].lower():
            return False
        status = request.get("StatusEquals")
        if status and self.status_member and record.get(self.status_member) != status:
            return False
        bounds = (
            ("CreationTimeAfter", "CreationTime", 1),
            ("CreationTimeBefore", "CreationTime", -1),
            ("LastModifiedTimeAfter", "LastModifiedTime", 1),
            ("LastModifiedTimeBefore", "LastModifiedTime", -1),
        )
        for param, member, sign in bounds:
            limit = _epoch(request.get(param))
            if limit is None:
                continue
            value = record.get(member, record["CreationTime"])
            if (sign > 0 and not value > limit) or (sign < 0 and not value < limit):
                return False
        return True


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _encode_token(position: tuple[Any, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode()


def _decode_token(token: str) -> tuple[Any, str]:
    try:
        value, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return value, str(name)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise errors.validation("Invalid pagination token.") from None
