"""Where Athena's records live: one MetadataStore (`athena.db`), keys scoped by account and region.

    w/{account}/{region}/{workgroup}                 WorkGroup
    n/{account}/{region}/{named query id}            NamedQuery
    p/{account}/{region}/{workgroup}/{name}          PreparedStatement
    q/{account}/{region}/{query execution id}        QueryExecution
    l/{account}/{region}/{workgroup}/{order}/{id}    listing index, newest first
    t/{account}/{region}/{client request token}      idempotency: token -> execution id

Pages of listings are resumed with an opaque NextToken that encodes the last key returned.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from tule.metadata.base import MetadataStore
from tule.services.athena.errors import invalid_request

Record = dict[str, Any]


def scope(kind: str, account: str, region: str) -> str:
    return f"{kind}/{account}/{region}/"


def encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_token(token: str, prefix: str) -> str:
    try:
        key = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_request("Invalid NextToken", "INVALID_INPUT") from None
    if not key.startswith(prefix):
        raise invalid_request("Invalid NextToken", "INVALID_INPUT")
    return key


@dataclass(frozen=True)
class RecordPage:
    items: list[tuple[str, Record]]
    next_token: str | None


def page(store: MetadataStore, prefix: str, limit: int, token: str | None = None) -> RecordPage:
    """At most `limit` records under `prefix`, resuming after `token`."""
    after = decode_token(token, prefix) if token else None
    result = store.list(prefix, start_after=after, limit=limit + 1)
    items = result.items[:limit]
    more = len(result.items) > limit
    return RecordPage(items, encode_token(items[-1][0]) if more and items else None)
