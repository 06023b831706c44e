"""MIME types as SageMaker channels and endpoints spell them, and their parameters.

Training channels and invocations carry a `ContentType` such as `text/csv;label_size=1` or
`text/csv; charset=utf-8`; XGBoost also accepts bare names (`csv`, `libsvm`, `parquet`,
`recordio-protobuf`). `canonical()` maps every accepted spelling onto one MIME type so readers
dispatch on a single name, and `parse_content_type()` splits the parameters off.
"""

from __future__ import annotations

CSV = "text/csv"
LIBSVM = "text/libsvm"
RECORDIO_PROTOBUF = "application/x-recordio-protobuf"
JSON = "application/json"
JSONLINES = "application/jsonlines"
PARQUET = "application/x-parquet"

# Spellings accepted by the containers (XGBoost's `_get_content_type` aliases; JSON Lines
# variants seen in SageMaker docs and batch transform examples).
_ALIASES = {
    "csv": CSV,
    "text/csv": CSV,
    "libsvm": LIBSVM,
    "text/libsvm": LIBSVM,
    "text/x-libsvm": LIBSVM,
    "recordio-protobuf": RECORDIO_PROTOBUF,
    "application/x-recordio-protobuf": RECORDIO_PROTOBUF,
    "parquet": PARQUET,
    "application/x-parquet": PARQUET,
    "application/json": JSON,
    "json": JSON,
    "application/jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
    "application/json-lines": JSONLINES,
    "application/x-jsonlines": JSONLINES,
    "jsonlines": JSONLINES,
}


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """Split `"text/csv; label_size=1"` into `("text/csv", {"label_size": "1"})`.

    The MIME type is lower-cased; parameter names are lower-cased, values keep their case with
    surrounding quotes removed. An empty or missing value gives `("", {})`.
    """
    if not value:
        return "", {}
    parts = value.split(";")
    mime = parts[0].strip().lower()
    params: dict[str, str] = {}
    for part in parts[1:]:
        if "=" not in part:
            continue
        key, _, val = part.partition("=")
        params[key.strip().lower()] = val.strip().strip('"')
    return mime, params


def canonical(mime: str) -> str:
    """The one MIME type a spelling stands for; unknown types come back unchanged."""
    return _ALIASES.get(mime.strip().lower(), mime.strip().lower())


def canonical_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """`parse_content_type` followed by `canonical` on the MIME part."""
    mime, params = parse_content_type(value)
    return canonical(mime), params


def same_type(a: str, b: str) -> bool:
    """Whether two content types name the same format, ignoring parameters and spelling."""
    return canonical(parse_content_type(a)[0]) == canonical(parse_content_type(b)[0])
