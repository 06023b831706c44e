"""Channels: which S3 objects a training channel holds, and how they reach the container.

A CreateTrainingJob `Channel` names its data with an `S3DataSource` (spec §2.1). `resolve` turns
it into the objects to deliver, `shard` picks one host's share, `shuffled` orders them for an
epoch, and then they are delivered either as files under `/opt/ml/input/data/<channel>/` (File
mode: `download`) or as the bytes of one epoch's FIFO `<channel>_<epoch>` (Pipe mode: see
`channel_streams`) (spec §2.7).

Problems with the data are the customer's: SageMaker fails the job with a FailureReason that
starts `ClientError:`. Such problems raise `ChannelError`, whose text is that sentence.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from tule.errors import AwsError

if TYPE_CHECKING:
    from tule.services.s3 import S3, ObjectSummary

__all__ = [
    "ChannelError",
    "SourceObject",
    "download",
    "parse_s3_uri",
    "resolve",
    "shard",
    "shuffled",
]

_CHUNK = 1 << 20

_REGION = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+"
_S3_HOST_LABEL = re.compile(rf"s3|s3-{_REGION}|s3-external-1")
_AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn")
_UNSUPPORTED_SOURCES = ("FileSystemDataSource", "DatasetSource")


class ChannelError(Exception):
    """A client error in a channel's data source; str(e) is the FailureReason sentence (AWS style,
    e.g. 'ClientError: No S3 objects found under S3 URL "s3://b/p/" given in input data source.
    Please ensure that the bucket exists in the selected region (us-east-1), that objects exist
    under that S3 prefix, and that the role ... has "s3:ListBucket" permissions on bucket "b".')
    """


@dataclass(frozen=True)
class SourceObject:
    """One S3 object of a channel and the path it takes under the channel folder."""

    bucket: str
    key: str
    relative_path: str
    size: int

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


# -- S3 URIs ----------------------------------------------------------------------------------


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`(bucket, key)` of an `s3://bucket/key` URI or an S3 `https://` URL, virtual-host style
    (`https://bucket.s3[.region].amazonaws.com/key`) or path style
    (`https://s3[.region].amazonaws.com/bucket/key`): the two forms SageMaker's
    `(https|s3)://([^/]+)/?(.*)` pattern admits."""
    if uri.startswith("s3://"):
        # Taken apart by hand: keys may hold `?` and `#`, which a URL parser would cut off.
        bucket, _, key = uri[len("s3://") :].partition("/")
    elif uri.startswith("https://"):
        bucket, key = _parse_https(uri)
    else:
        raise _invalid_uri(uri)
    if not bucket or any(c.isspace() or c == "\x00" for c in bucket):
        raise _invalid_uri(uri)
    return bucket, key


def _parse_https(uri: str) -> tuple[str, str]:
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError as e:
        raise _invalid_uri(uri) from e
    domain = next((d for d in _AWS_DOMAINS if host.endswith(d)), None)
    if domain is None:
        raise _invalid_uri(uri)
    labels = host[: -len(domain)].split(".")
    # The S3 label is the last one that names the service: what precedes it is a virtual-host
    # bucket (which may itself contain dots, or look like "s3-foo"); what follows is a region.
    service = next(
        (i for i in range(len(labels) - 1, -1, -1) if _S3_HOST_LABEL.fullmatch(labels[i])), None
    )
    if service is None:
        raise _invalid_uri(uri)
    path = unquote(parts.path).removeprefix("/")
    if service == 0:
        bucket, _, key = path.partition("/")
        return bucket, key
    return ".".join(labels[:service]), path


def _invalid_uri(uri: str) -> ChannelError:
    return ChannelError(
        f'ClientError: "{uri}" is not a valid S3 URI. Please give the input data source as '
        '"s3://bucket/prefix" or as an https URL of an S3 object or prefix.'
    )


# -- which objects a channel holds ------------------------------------------------------------


def resolve(
    s3: S3,
    channel: dict[str, Any],
    *,
    region: str = "us-east-1",
    role_arn: str | None = None,
) -> list[SourceObject]:
    """The objects of one botocore `Channel`, in the order SageMaker delivers them.

    `region` and `role_arn` only colour the error text, as they do in AWS's own message."""
    name = channel.get("ChannelName", "")
    source = channel.get("DataSource") or {}
    s3_source = source.get("S3DataSource")
    if s3_source is None:
        kind = next((k for k in _UNSUPPORTED_SOURCES if k in source), "data source")
        raise ChannelError(
            f'ClientError: Channel "{name}" uses a {kind}, which is not supported in tule. '
            "Please give the channel an S3DataSource."
        )
    data_type = s3_source.get("S3DataType")
    uri = s3_source.get("S3Uri") or ""
    bucket, key = parse_s3_uri(uri)
    if data_type == "S3Prefix":
        objects = _prefix_objects(s3, bucket, key)
        if not objects:
            raise _no_objects(uri, bucket, region, role_arn)
        return objects
    if data_type == "ManifestFile":
        return _manifest_objects(s3, uri, bucket, key)
    if data_type == "AugmentedManifestFile":
        summary = _head(s3, bucket, key)
        if summary is None:
            raise _missing_manifest(uri, "augmented manifest file")
        return [SourceObject(bucket, key, PurePosixPath(key).name or key, summary.size)]
    raise ChannelError(
        f'ClientError: S3DataType "{data_type}" of channel "{name}" is not supported in tule. '
        "Please use S3Prefix, ManifestFile or AugmentedManifestFile."
    )


def _prefix_objects(s3: S3, bucket: str, prefix: str) -> list[SourceObject]:
    # Keys keep their path below the prefix's last "/" (spec §2.7): prefix "data/train" puts
    # "data/train/x.csv" at "train/x.csv", and a prefix naming one object yields its base name.
    cut = prefix.rfind("/") + 1
    try:
        return [
            SourceObject(bucket, s.key, s.key[cut:], s.size)
            for s in s3.list_objects(bucket, prefix)
            # Zero-byte "folder/" keys are what consoles create for folders, not data.
            if not (s.key.endswith("/") and s.size == 0)
        ]
    except AwsError as e:
        if e.code == "NoSuchBucket":
            return []
        raise


def _no_objects(uri: str, bucket: str, region: str, role_arn: str | None) -> ChannelError:
    role = f'the role "{role_arn}"' if role_arn else "the role"
    return ChannelError(
        f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. '
        f"Please ensure that the bucket exists in the selected region ({region}), that objects "
        f'exist under that S3 prefix, and that {role} has "s3:ListBucket" permissions on '
        f'bucket "{bucket}".'
    )


def _manifest_objects(s3: S3, uri: str, bucket: str, key: str) -> list[SourceObject]:
    body = _read_whole(s3, bucket, key)
    if body is None:
        raise _missing_manifest(uri, "manifest file")
    try:
        entries = json.loads(body)
    except ValueError as e:
        raise _bad_manifest(uri, f"it is not valid JSON ({e})") from e
    if (
        not isinstance(entries, list)
        or not entries
        or not isinstance(entries[0], dict)
        or not isinstance(entries[0].get("prefix"), str)
    ):
        raise _bad_manifest(
            uri, 'it must be a JSON array whose first element is {"prefix": "s3://bucket/prefix/"}'
        )
    try:
        prefix_bucket, prefix_key = parse_s3_uri(entries[0]["prefix"])
    except ChannelError as e:
        raise _bad_manifest(uri, f'its prefix "{entries[0]["prefix"]}" is not an S3 URI') from e
    if len(entries) == 1:
        raise _bad_manifest(uri, "it lists no objects")
    objects = []
    for position, relative in enumerate(entries[1:], start=2):
        if not isinstance(relative, str) or not relative:
            raise _bad_manifest(uri, f"element {position} is not a non-empty string")
        # AWS joins the prefix and the entry as they are, without adding a "/".
        full_key = prefix_key + relative
        summary = _head(s3, prefix_bucket, full_key)
        if summary is None:
            raise ChannelError(
                f'ClientError: Object "s3://{prefix_bucket}/{full_key}" listed in manifest file '
                f'"{uri}" does not exist. Please ensure that every object the manifest lists '
                'exists and that the role has "s3:GetObject" permissions on it.'
            )
        objects.append(SourceObject(prefix_bucket, full_key, relative, summary.size))
    return objects


def _missing_manifest(uri: str, what: str) -> ChannelError:
    return ChannelError(
        f'ClientError: Could not read the {what} "{uri}" given in input data source. Please '
        'ensure that the object exists and that the role has "s3:GetObject" permissions on it.'
    )


def _bad_manifest(uri: str, why: str) -> ChannelError:
    return ChannelError(f'ClientError: The manifest file "{uri}" is malformed: {why}.')


def _head(s3: S3, bucket: str, key: str) -> ObjectSummary | None:
    """The listing entry of exactly `key`, or None. A key sorts before every longer key it
    prefixes, so the first entry under the key as a prefix is the key itself if it exists."""
    try:
        for summary in s3.list_objects(bucket, key):
            return summary if summary.key == key else None
    except AwsError as e:
        if e.code == "NoSuchBucket":
            return None
        raise
    return None


def _read_whole(s3: S3, bucket: str, key: str) -> bytes | None:
    try:
        return b"".join(s3.read_object(bucket, key))
    except AwsError as e:
        if e.code in ("NoSuchBucket", "NoSuchKey"):
            return None
        raise


# -- which objects a host gets, in which order ------------------------------------------------


def shard(
    objects: list[SourceObject], distribution: str | None, host_index: int, host_count: int
) -> list[SourceObject]:
    """Host `host_index`'s share: everything (`FullyReplicated`), or with `ShardedByS3Key` every
    `host_count`-th object by key (spec §2.7). A host may get nothing; the caller decides."""
    if not 0 <= host_index < host_count:
        raise ValueError(f"host index {host_index} is not within {host_count} hosts")
    if distribution in (None, "FullyReplicated"):
        return list(objects)
    if distribution == "ShardedByS3Key":
        return sorted(objects, key=lambda o: o.key)[host_index::host_count]
    raise ChannelError(
        f'ClientError: S3DataDistributionType "{distribution}" is not supported. '
        "Please use FullyReplicated or ShardedByS3Key."
    )


def shuffled(objects: list[SourceObject], seed: int | None, epoch: int) -> list[SourceObject]:
    """The order of one epoch under `ShuffleConfig{Seed}`: the same for the same (seed, epoch),
    different from epoch to epoch. AWS shuffles before sharding, so that with ShardedByS3Key a
    host's share changes each epoch; the caller shuffles the whole channel, then shards."""
    if seed is None:
        return list(objects)
    order = list(objects)
    random.Random(f"{seed}:{epoch}").shuffle(order)
    return order


# -- File mode --------------------------------------------------------------------------------


def download(s3: S3, objects: list[SourceObject], destination: Path) -> int:
    """Write each object to `destination/relative_path`; returns the bytes written. Each file
    appears whole or not at all (written aside, then renamed), so a failed download never
    leaves a truncated file that looks like data."""
    destination.mkdir(parents=True, exist_ok=True)
    total = 0
    for obj in objects:
        target = _target(destination, obj)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            total += _write_aside(target, read_chunks(s3, obj))
        except OSError as e:
            # Typically one key is a file and another needs it to be a folder ("a" and "a/b").
            raise ChannelError(
                f'ClientError: Could not write S3 object "{obj.url}" to "{obj.relative_path}" in '
                f"the channel folder: {e.strerror or e}."
            ) from e
    return total


def _target(destination: Path, obj: SourceObject) -> Path:
    relative = PurePosixPath(obj.relative_path)
    if (
        relative.is_absolute()
        or ".." in relative.parts
        or not relative.parts
        or obj.relative_path.endswith("/")
        or "\x00" in obj.relative_path
    ):
        raise ChannelError(
            f'ClientError: S3 object "{obj.url}" would be written to "{obj.relative_path}", '
            "which is not a file path inside the channel folder."
        )
    return destination.joinpath(*relative.parts)


def _write_aside(target: Path, chunks: Iterable[bytes]) -> int:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tule-", suffix=".part")
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return written


def read_chunks(s3: S3, obj: SourceObject) -> Iterator[bytes]:
    try:
        yield from s3.read_object(obj.bucket, obj.key)
    except AwsError as e:
        raise ChannelError(
            f'ClientError: Could not read S3 object "{obj.url}" ({e.code}: {e.message}). '
            'Please ensure that it exists and that the role has "s3:GetObject" permissions on it.'
        ) from e
