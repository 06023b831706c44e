"""The request context a handler receives: who asks, where, and which service state to use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestContext:
    """Everything about a request that is not its input shape.

    `service` is the domain object of the addressed service (e.g. the S3 domain), so handlers
    never look anything up globally. `headers` are the raw request headers (lower-case names),
    for the few behaviours AWS ties to headers outside the model.
    """

    service_name: str
    operation: str
    region: str
    account_id: str
    request_id: str
    access_key_id: str | None = None
    service: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    # Set by a handler when AWS answers with a status or header the output shape cannot carry
    # (S3's 206 Partial Content and Content-Range on ranged GETs).
    response_status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
