"""S3's records: buckets, object versions, multipart uploads and parts, as stored.

Every record is plain data with `to_record`/`from_record` for the metadata store (JSON dicts,
defaults omitted so the per-PUT record stays small). Time is epoch seconds (floats, ms
precision) from the injectable clock.

An `ObjectVersion` is one version of one key: a live object (`blob_id` names its bytes) or a
delete marker. Unversioned buckets hold exactly one version per key with id `null`; versioned
ones keep every version, ordered by `sort_key` (newest first). `storage_class`, `restore_expiry`
and `noncurrent_since` are what lifecycle transitions, RestoreObject and noncurrent-version
rules act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

NULL_VERSION = "null"
STANDARD = "STANDARD"
# Objects in these classes are archived: GetObject needs a RestoreObject first.
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})


@dataclass(slots=True)
class Bucket:
    name: str
    region: str
    created: float
    versioning: str | None = None  # None (never enabled), "Enabled" or "Suspended"
    tags: dict[str, str] | None = None
    lifecycle: list[dict[str, Any]] | None = None  # stored rules, see lifecycle_rules
    lifecycle_min_size: str | None = None  # x-amz-transition-default-minimum-object-size

    def to_record(self) -> dict[str, Any]:
        return _compact(self)

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Bucket:
        return cls(**rec)


@dataclass(slots=True)
class ObjectAttributes:
    """What the writer of an object chooses: content headers, user metadata, class, SSE, tags."""

    content_type: str | None = None
    cache_control: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None
    expires: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    storage_class: str = STANDARD
    sse: str | None = None  # "AES256" | "aws:kms" | "aws:kms:dsse"; None: stored in plaintext
    kms_key_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def encrypted(self) -> bool:
        return self.sse is not None


_ATTRIBUTE_NAMES = tuple(f.name for f in fields(ObjectAttributes))


@dataclass(slots=True)
class ObjectVersion:
    key: str
    version_id: str
    sort_key: str
    attrs: ObjectAttributes
    blob_id: str | None = None
    size: int = 0
    etag: str = ""
    last_modified: float = 0.0
    checksum_algorithm: str | None = None
    checksum: str | None = None
    checksum_type: str | None = None
    parts: list[int] | None = None  # part sizes, for objects made by multipart upload
    delete_marker: bool = False
    restore_expiry: float | None = None  # a restored archive copy is readable until then
    noncurrent_since: float | None = None  # when a newer version replaced this one

    @property
    def storage_class(self) -> str:
        return self.attrs.storage_class

    def to_record(self) -> dict[str, Any]:
        rec = _compact(self, skip=("attrs",))
        rec.update(_compact(self.attrs))
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> ObjectVersion:
        own = {k: v for k, v in rec.items() if k not in _ATTRIBUTE_NAMES}
        attrs = ObjectAttributes(**{k: v for k, v in rec.items() if k in _ATTRIBUTE_NAMES})
        return cls(attrs=attrs, **own)

    def copy(self, **changes: Any) -> ObjectVersion:
        return replace(self, **changes)


@dataclass(slots=True)
class MultipartUpload:
    key: str
    upload_id: str
    initiated: float
    attrs: ObjectAttributes
    checksum_algorithm: str | None = None
    checksum_type: str | None = None

    def to_record(self) -> dict[str, Any]:
        rec = _compact(self, skip=("attrs",))
        rec["attrs"] = _compact(self.attrs)
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> MultipartUpload:
        own = {k: v for k, v in rec.items() if k != "attrs"}
        return cls(attrs=ObjectAttributes(**rec.get("attrs", {})), **own)


@dataclass(slots=True)
class Part:
    part_number: int
    blob_id: str
    size: int
    etag: str
    last_modified: float
    checksum_algorithm: str | None = None
    checksum: str | None = None

    def to_record(self) -> dict[str, Any]:
        return _compact(self)

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Part:
        return cls(**rec)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _compact(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The dataclass's fields, leaving out those at their empty default (runs on every PUT,
    hence the cached field names)."""
    names = _FIELD_NAMES.get(type(obj))
    if names is None:
        names = _FIELD_NAMES[type(obj)] = tuple(f.name for f in fields(obj))
    out: dict[str, Any] = {}
    for name in names:
        if name in skip:
            continue
        value = getattr(obj, name)
        if value is None or value is False or value == {}:
            continue
        out[name] = value
    return out


DAY_S = 86_400.0


def midnight_after(epoch: float) -> float:
    """The next midnight UTC at or after `epoch`: S3 rounds lifecycle due dates and restore
    expiries up to midnight UTC (S3 user guide, "Lifecycle rules: based on an object's age")."""
    whole_days, rest = divmod(epoch, DAY_S)
    return whole_days * DAY_S + (DAY_S if rest else 0.0)
