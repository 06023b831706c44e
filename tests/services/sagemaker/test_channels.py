"""Training channels: which S3 objects a channel holds, each host's share and order, and the
bytes that reach the container in File mode (files) and Pipe mode (gzip, RecordIO, augmented
manifests), with AWS-style ClientError texts when the data is wrong."""

from __future__ import annotations

import gzip
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tule.clock import SystemClock
from tule.config import Settings
from tule.services.base import ServiceEnv
from tule.services.s3 import S3
from tule.services.sagemaker.channel_streams import RECORDIO_MAGIC, augmented_records, stream
from tule.services.sagemaker.channels import (
    ChannelError,
    SourceObject,
    download,
    parse_s3_uri,
    resolve,
    shard,
    shuffled,
)


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3]:
    """The S3 domain itself, in process (this shadows the conftest's boto3 client)."""
    settings = Settings(data_dir=tmp_path, fsync=False, lifecycle_interval_s=0)
    domain = S3(ServiceEnv(settings, SystemClock(), tmp_path / "s3"))
    domain.buckets.create("bkt", "us-east-1", None)
    yield domain
    domain.close()


def _put(s3: S3, objects: dict[str, bytes], bucket: str = "bkt") -> None:
    for key, body in objects.items():
        s3.write_object(bucket, key, body)


def _channel(uri: str, data_type: str = "S3Prefix", **s3_source: Any) -> dict[str, Any]:
    return {
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": uri, **s3_source}},
    }


def _paths(objects: list[SourceObject]) -> list[tuple[str, str]]:
    return [(o.key, o.relative_path) for o in objects]


def _records(data: bytes) -> list[bytes]:
    """Decode MXNet RecordIO framing, checking every header and padding byte."""
    records = []
    offset = 0
    while offset < len(data):
        magic, word = struct.unpack_from("<II", data, offset)
        assert magic == RECORDIO_MAGIC
        assert word >> 29 == 0, "continuation flag must be 0 (whole record)"
        length = word & ((1 << 29) - 1)
        offset += 8
        records.append(data[offset : offset + length])
        offset += length
        padding = -length % 4
        assert data[offset : offset + padding] == b"\x00" * padding
        offset += padding
    assert offset == len(data)
    return records


# -- S3 URIs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://b/a/b", ("b", "a/b")),
        ("s3://b", ("b", "")),
        ("s3://b/", ("b", "")),
        ("s3://b/dir/", ("b", "dir/")),
        ("s3://b/what?#odd key", ("b", "what?#odd key")),
        ("https://b.s3.amazonaws.com/a/b", ("b", "a/b")),
        ("https://my.dotted.bucket.s3.eu-west-1.amazonaws.com/k", ("my.dotted.bucket", "k")),
        ("https://b.s3-us-west-2.amazonaws.com/k", ("b", "k")),
        ("https://s3-lookalike.s3.amazonaws.com/k", ("s3-lookalike", "k")),
        ("https://b.s3.dualstack.us-east-1.amazonaws.com/k", ("b", "k")),
        ("https://s3.amazonaws.com/b/a/b", ("b", "a/b")),
        ("https://s3.us-west-2.amazonaws.com/b/a/b", ("b", "a/b")),
        ("https://s3.cn-north-1.amazonaws.com.cn/b/k", ("b", "k")),
        ("https://s3.us-east-1.amazonaws.com/b/with%20space", ("b", "with space")),
    ],
)
def test_s3_uris_of_every_accepted_form_parse(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "b/key",
        "s3://",
        "s3:///key",
        "S3://b/k",
        "http://b.s3.amazonaws.com/k",
        "https://example.com/b/k",
        "https://b.s3-website-us-east-1.amazonaws.com/k",
        "https://s3.amazonaws.com/",
        "gs://b/k",
    ],
)
def test_other_uris_are_channel_errors(uri: str) -> None:
    with pytest.raises(ChannelError, match=r"^ClientError: .* is not a valid S3 URI"):
        parse_s3_uri(uri)


# -- S3Prefix ---------------------------------------------------------------------------------


def test_prefix_with_slash_keeps_paths_below_it_in_key_order(s3: S3) -> None:
    _put(s3, {"data/train/b.csv": b"2", "data/train/a/x.csv": b"1", "data/other.csv": b"3"})
    objects = resolve(s3, _channel("s3://bkt/data/train/"))
    assert _paths(objects) == [
        ("data/train/a/x.csv", "a/x.csv"),
        ("data/train/b.csv", "b.csv"),
    ]
    assert objects[0] == SourceObject("bkt", "data/train/a/x.csv", "a/x.csv", 1)


def test_prefix_without_slash_keeps_its_last_segment(s3: S3) -> None:
    _put(s3, {"data/train/x.csv": b"x", "data/training.csv": b"yy"})
    objects = resolve(s3, _channel("s3://bkt/data/train"))
    assert _paths(objects) == [
        ("data/train/x.csv", "train/x.csv"),
        ("data/training.csv", "training.csv"),
    ]


def test_prefix_naming_one_object_yields_it_by_base_name(s3: S3) -> None:
    _put(s3, {"data/train.csv": b"abc", "data/test.csv": b"d"})
    assert _paths(resolve(s3, _channel("s3://bkt/data/train.csv"))) == [
        ("data/train.csv", "train.csv")
    ]


def test_bucket_root_prefix_keeps_whole_keys(s3: S3) -> None:
    _put(s3, {"a/x": b"1", "y": b"2"})
    assert _paths(resolve(s3, _channel("s3://bkt"))) == [("a/x", "a/x"), ("y", "y")]


def test_https_uri_resolves_like_s3_uri(s3: S3) -> None:
    _put(s3, {"p/x": b"1"})
    assert _paths(resolve(s3, _channel("https://bkt.s3.amazonaws.com/p/"))) == [("p/x", "x")]


def test_folder_markers_are_skipped(s3: S3) -> None:
    _put(s3, {"p/": b"", "p/sub/": b"", "p/sub/x": b"1", "p/data/": b"not a marker"})
    assert _paths(resolve(s3, _channel("s3://bkt/p/"))) == [
        ("p/data/", "data/"),
        ("p/sub/x", "sub/x"),
    ]


def test_empty_prefix_fails_with_aws_text(s3: S3) -> None:
    _put(s3, {"other/x": b"1"})
    with pytest.raises(ChannelError) as caught:
        resolve(s3, _channel("s3://bkt/p/"), role_arn="arn:aws:iam::000000000000:role/R")
    assert str(caught.value) == (
        'ClientError: No S3 objects found under S3 URL "s3://bkt/p/" given in input data source. '
        "Please ensure that the bucket exists in the selected region (us-east-1), that objects "
        'exist under that S3 prefix, and that the role "arn:aws:iam::000000000000:role/R" has '
        '"s3:ListBucket" permissions on bucket "bkt".'
    )


def test_only_folder_markers_count_as_no_objects(s3: S3) -> None:
    _put(s3, {"p/": b"", "p/q/": b""})
    with pytest.raises(ChannelError, match="No S3 objects found"):
        resolve(s3, _channel("s3://bkt/p/"))


def test_missing_bucket_fails_with_the_same_text(s3: S3) -> None:
    with pytest.raises(ChannelError) as caught:
        resolve(s3, _channel("s3://nobucket/p/"), region="eu-west-1")
    message = str(caught.value)
    assert message.startswith('ClientError: No S3 objects found under S3 URL "s3://nobucket/p/"')
    assert "selected region (eu-west-1)" in message
    assert 'on bucket "nobucket"' in message


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ({"FileSystemDataSource": {"FileSystemId": "fs-1"}}, "FileSystemDataSource"),
        ({"DatasetSource": {}}, "DatasetSource"),
        ({}, "data source"),
    ],
)
def test_non_s3_data_sources_are_not_supported(s3: S3, source: dict, name: str) -> None:
    channel = {"ChannelName": "train", "DataSource": source}
    with pytest.raises(ChannelError, match=f"uses a {name}, which is not supported in tule"):
        resolve(s3, channel)


def test_unknown_s3_data_type_is_not_supported(s3: S3) -> None:
    with pytest.raises(ChannelError, match=r'S3DataType "Converse" .* not supported'):
        resolve(s3, _channel("s3://bkt/p/", "Converse"))


# -- ManifestFile -----------------------------------------------------------------------------


def test_manifest_lists_objects_relative_to_its_prefix(s3: S3) -> None:
    _put(s3, {"data/x/1.csv": b"one", "data/2.csv": b"two!", "data/unlisted": b"-"})
    manifest = [{"prefix": "s3://bkt/data/"}, "2.csv", "x/1.csv"]
    _put(s3, {"m.json": json.dumps(manifest).encode()})
    objects = resolve(s3, _channel("s3://bkt/m.json", "ManifestFile"))
    assert objects == [
        SourceObject("bkt", "data/2.csv", "2.csv", 4),
        SourceObject("bkt", "data/x/1.csv", "x/1.csv", 3),
    ]


def test_manifest_objects_may_live_in_another_bucket(s3: S3) -> None:
    s3.buckets.create("other", "us-east-1", None)
    _put(s3, {"p/k": b"v"}, bucket="other")
    _put(s3, {"m.json": json.dumps([{"prefix": "s3://other/p/"}, "k"]).encode()})
    assert resolve(s3, _channel("s3://bkt/m.json", "ManifestFile")) == [
        SourceObject("other", "p/k", "k", 1)
    ]


def test_manifest_naming_a_missing_object_fails_naming_it(s3: S3) -> None:
    _put(s3, {"data/a": b"1"})
    _put(s3, {"m.json": json.dumps([{"prefix": "s3://bkt/data/"}, "a", "gone"]).encode()})
    with pytest.raises(ChannelError, match='Object "s3://bkt/data/gone" listed in manifest file'):
        resolve(s3, _channel("s3://bkt/m.json", "ManifestFile"))


def test_missing_manifest_fails(s3: S3) -> None:
    with pytest.raises(ChannelError, match='Could not read the manifest file "s3://bkt/none"'):
        resolve(s3, _channel("s3://bkt/none", "ManifestFile"))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "not valid JSON"),
        (b'{"prefix": "s3://bkt/"}', "must be a JSON array"),
        (b"[]", "must be a JSON array"),
        (b'["a", "b"]', "must be a JSON array"),
        (b'[{"prefix": "ftp://b/"}, "a"]', "is not an S3 URI"),
        (b'[{"prefix": "s3://bkt/"}]', "lists no objects"),
        (b'[{"prefix": "s3://bkt/"}, 3]', "element 2 is not a non-empty string"),
        (b'[{"prefix": "s3://bkt/"}, ""]', "element 2 is not a non-empty string"),
    ],
)
def test_malformed_manifests_fail(s3: S3, body: bytes, why: str) -> None:
    _put(s3, {"m.json": body})
    expected = f'manifest file "s3://bkt/m.json" is malformed: .*{why}'
    with pytest.raises(ChannelError, match=expected):
        resolve(s3, _channel("s3://bkt/m.json", "ManifestFile"))


# -- AugmentedManifestFile --------------------------------------------------------------------


def test_augmented_manifest_resolves_to_itself(s3: S3) -> None:
    _put(s3, {"meta/train.manifest": b'{"a": 1}\n'})
    objects = resolve(s3, _channel("s3://bkt/meta/train.manifest", "AugmentedManifestFile"))
    assert objects == [SourceObject("bkt", "meta/train.manifest", "train.manifest", 9)]


def test_missing_augmented_manifest_fails(s3: S3) -> None:
    with pytest.raises(ChannelError, match="Could not read the augmented manifest file"):
        resolve(s3, _channel("s3://bkt/none.manifest", "AugmentedManifestFile"))


# -- sharding and shuffling -------------------------------------------------------------------


def _objects(*keys: str) -> list[SourceObject]:
    return [SourceObject("bkt", key, key, 1) for key in keys]


def test_fully_replicated_gives_every_host_everything() -> None:
    objects = _objects("c", "a", "b")
    assert shard(objects, "FullyReplicated", 1, 2) == objects
    assert shard(objects, None, 0, 2) == objects


def test_sharded_by_key_deals_sorted_keys_round_robin() -> None:
    objects = _objects("e", "c", "a", "d", "b")
    first = shard(objects, "ShardedByS3Key", 0, 2)
    second = shard(objects, "ShardedByS3Key", 1, 2)
    assert [o.key for o in first] == ["a", "c", "e"]
    assert [o.key for o in second] == ["b", "d"]


def test_a_host_may_get_no_shard() -> None:
    assert shard(_objects("a"), "ShardedByS3Key", 1, 2) == []


def test_shard_rejects_bad_host_index_and_distribution() -> None:
    with pytest.raises(ValueError):
        shard(_objects("a"), "ShardedByS3Key", 2, 2)
    with pytest.raises(ChannelError, match="S3DataDistributionType"):
        shard(_objects("a"), "Random", 0, 1)


def test_shuffle_is_a_deterministic_permutation_per_seed_and_epoch() -> None:
    objects = _objects(*(f"k{i:02}" for i in range(30)))
    epoch0 = shuffled(objects, 7, 0)
    assert shuffled(objects, 7, 0) == epoch0
    assert sorted(epoch0, key=lambda o: o.key) == objects
    assert epoch0 != objects
    assert shuffled(objects, 7, 1) != epoch0
    assert shuffled(objects, 8, 0) != epoch0
    assert shuffled(objects, None, 3) == objects
    assert [o.key for o in objects] == [f"k{i:02}" for i in range(30)], "input left alone"


# -- File mode --------------------------------------------------------------------------------


def test_download_writes_each_object_at_its_relative_path(s3: S3, tmp_path: Path) -> None:
    big = bytes(range(256)) * 5000
    _put(s3, {"p/a/x.csv": b"1,2\n", "p/big.bin": big, "p/empty": b""})
    objects = resolve(s3, _channel("s3://bkt/p/"))
    destination = tmp_path / "input" / "data" / "train"
    total = download(s3, objects, destination)
    assert total == 4 + len(big)
    assert (destination / "a" / "x.csv").read_bytes() == b"1,2\n"
    assert (destination / "big.bin").read_bytes() == big
    assert (destination / "empty").read_bytes() == b""
    leftovers = [p.name for p in destination.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


@pytest.mark.parametrize("relative", ["../escape", "a/../../escape", "/abs", "", ".", "dir/"])
def test_download_refuses_paths_outside_the_channel(s3: S3, tmp_path: Path, relative: str) -> None:
    _put(s3, {"k": b"x"})
    destination = tmp_path / "channel"
    with pytest.raises(ChannelError, match="not a file path inside the channel folder"):
        download(s3, [SourceObject("bkt", "k", relative, 1)], destination)
    assert not (tmp_path / "escape").exists()


def test_download_of_object_deleted_since_listing_fails(s3: S3, tmp_path: Path) -> None:
    with pytest.raises(ChannelError, match=r'Could not read S3 object "s3://bkt/gone" \(NoSuchKey'):
        download(s3, [SourceObject("bkt", "gone", "gone", 1)], tmp_path / "c")
    assert list((tmp_path / "c").iterdir()) == []


def test_download_of_a_key_that_is_also_a_folder_fails_cleanly(s3: S3, tmp_path: Path) -> None:
    _put(s3, {"p/a": b"file", "p/a/b": b"nested"})
    objects = resolve(s3, _channel("s3://bkt/p/"))
    with pytest.raises(ChannelError, match='Could not write S3 object "s3://bkt/p/a/b"'):
        download(s3, objects, tmp_path / "c")


# -- Pipe mode --------------------------------------------------------------------------------


def _epoch(s3: S3, uri: str, **options: Any) -> bytes:
    objects = resolve(s3, _channel(uri))
    options.setdefault("compression", None)
    options.setdefault("record_wrapper", None)
    return b"".join(stream(s3, objects, **options))


def test_plain_stream_concatenates_objects_in_order(s3: S3) -> None:
    _put(s3, {"p/1": b"one\n", "p/2": b"two\n", "p/3": b""})
    assert _epoch(s3, "s3://bkt/p/") == b"one\ntwo\n"
    assert _epoch(s3, "s3://bkt/p/", compression="None", record_wrapper="None") == b"one\ntwo\n"


def test_gzip_objects_are_decompressed(s3: S3) -> None:
    # A large, highly compressible body crosses the per-call output cap many times over.
    big = b"abcd" * 2_000_000
    _put(s3, {"p/1.gz": gzip.compress(b"first\n"), "p/2.gz": gzip.compress(big)})
    assert _epoch(s3, "s3://bkt/p/", compression="Gzip") == b"first\n" + big


def test_multi_member_gzip_is_decompressed_whole(s3: S3) -> None:
    _put(s3, {"p/x.gz": gzip.compress(b"part one, ") + gzip.compress(b"part two")})
    assert _epoch(s3, "s3://bkt/p/", compression="Gzip") == b"part one, part two"


@pytest.mark.parametrize("body", [b"plain text, not gzip", gzip.compress(b"cut short" * 100)[:-12]])
def test_non_gzip_object_fails_naming_it(s3: S3, body: bytes) -> None:
    _put(s3, {"p/ok.gz": gzip.compress(b"fine"), "p/bad": body})
    with pytest.raises(ChannelError, match='S3 object "s3://bkt/p/bad" is not a valid gzip file'):
        _epoch(s3, "s3://bkt/p/", compression="Gzip")


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 1000, 300_001])
def test_recordio_wraps_each_object_as_one_record(s3: S3, size: int) -> None:
    body = bytes(i % 251 for i in range(size))
    _put(s3, {"p/a": body, "p/b": b"xyz"})
    data = _epoch(s3, "s3://bkt/p/", record_wrapper="RecordIO")
    assert _records(data) == [body, b"xyz"]
    assert data[:4] == b"\x0a\x23\xd7\xce", "magic is little-endian"


def test_gzip_then_recordio_wraps_the_decompressed_bytes(s3: S3) -> None:
    payloads = [b"alpha", b"bravo charlie" * 10_000]
    _put(s3, {f"p/{i}.gz": gzip.compress(p) for i, p in enumerate(payloads)})
    data = _epoch(s3, "s3://bkt/p/", compression="Gzip", record_wrapper="RecordIO")
    assert _records(data) == payloads


def test_recordio_notices_an_object_that_changed_size(s3: S3) -> None:
    _put(s3, {"p/a": b"short"})
    objects = resolve(s3, _channel("s3://bkt/p/"))
    _put(s3, {"p/a": b"much longer now"})
    with pytest.raises(ChannelError, match="changed while it was being read"):
        b"".join(stream(s3, objects, compression=None, record_wrapper="RecordIO"))


def test_stream_rejects_unknown_options(s3: S3) -> None:
    with pytest.raises(ChannelError, match='CompressionType "Zip"'):
        next(stream(s3, [], compression="Zip", record_wrapper=None))
    with pytest.raises(ChannelError, match='RecordWrapperType "TFRecord"'):
        next(stream(s3, [], compression=None, record_wrapper="TFRecord"))


def test_stream_yields_chunks_not_whole_objects(s3: S3) -> None:
    big = b"z" * (3 * 1024 * 1024)
    _put(s3, {"p/big.gz": gzip.compress(big)})
    objects = resolve(s3, _channel("s3://bkt/p/"))
    chunks = list(stream(s3, objects, compression="Gzip", record_wrapper=None))
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) <= 1024 * 1024


# -- augmented manifests ----------------------------------------------------------------------


def _augmented(s3: S3, lines: list[Any], key: str = "train.manifest") -> SourceObject:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    _put(s3, {key: text.encode()})
    (manifest,) = resolve(s3, _channel(f"s3://bkt/{key}", "AugmentedManifestFile"))
    return manifest


def test_augmented_manifest_yields_a_record_per_attribute(s3: S3) -> None:
    _put(s3, {"img/1.jpg": b"\xff\xd8 one", "img/2.jpg": b"\xff\xd8 two two"})
    manifest = _augmented(
        s3,
        [
            {"source-ref": "s3://bkt/img/1.jpg", "label": 3, "other": "ignored"},
            "",
            {"source-ref": "s3://bkt/img/2.jpg", "label": {"boxes": [1, 2]}},
            {"source-ref": "https://bkt.s3.amazonaws.com/img/1.jpg", "label": "cat é"},
        ],
    )
    data = b"".join(augmented_records(s3, manifest, ["source-ref", "label"]))
    assert _records(data) == [
        b"\xff\xd8 one",
        b"3",
        b"\xff\xd8 two two",
        b'{"boxes":[1,2]}',
        b"\xff\xd8 one",
        "cat é".encode(),
    ]


def test_augmented_manifest_attribute_order_is_the_requests(s3: S3) -> None:
    manifest = _augmented(s3, [{"a": "1", "b": "2"}])
    data = b"".join(augmented_records(s3, manifest, ["b", "a"]))
    assert _records(data) == [b"2", b"1"]


def test_augmented_manifest_line_missing_an_attribute_fails_naming_it(s3: S3) -> None:
    manifest = _augmented(s3, [{"a": 1, "b": 2}, "", {"a": 1}])
    with pytest.raises(ChannelError, match=r'Line 3 of augmented manifest file .* attribute "b"'):
        b"".join(augmented_records(s3, manifest, ["a", "b"]))


def test_augmented_manifest_bad_lines_and_refs_fail(s3: S3) -> None:
    bad_json = _augmented(s3, [{"a": 1}, "{oops"], key="m1")
    with pytest.raises(ChannelError, match=r"Line 2 of .* is not valid JSON"):
        b"".join(augmented_records(s3, bad_json, ["a"]))
    not_object = _augmented(s3, ["[1, 2]"], key="m2")
    with pytest.raises(ChannelError, match=r"Line 1 of .* is not a JSON object"):
        b"".join(augmented_records(s3, not_object, ["a"]))
    missing_ref = _augmented(s3, [{"x-ref": "s3://bkt/nothing"}], key="m3")
    expected = r'Could not read S3 object "s3://bkt/nothing" .* line 1'
    with pytest.raises(ChannelError, match=expected):
        b"".join(augmented_records(s3, missing_ref, ["x-ref"]))
    bad_ref = _augmented(s3, [{"x-ref": 5}], key="m4")
    with pytest.raises(ChannelError, match="is not an S3 URI string"):
        b"".join(augmented_records(s3, bad_ref, ["x-ref"]))
    with pytest.raises(ChannelError, match="needs AttributeNames"):
        b"".join(augmented_records(s3, bad_ref, []))


def test_augmented_manifest_shuffles_lines_per_epoch(s3: S3) -> None:
    manifest = _augmented(s3, [{"n": str(i)} for i in range(20)])

    def epoch(seed: int | None, number: int) -> list[bytes]:
        return _records(b"".join(augmented_records(s3, manifest, ["n"], seed=seed, epoch=number)))

    in_order = [str(i).encode() for i in range(20)]
    assert epoch(None, 0) == in_order
    assert epoch(1, 0) == epoch(1, 0) != in_order
    assert sorted(epoch(1, 0)) == sorted(in_order)
    assert epoch(1, 1) != epoch(1, 0)
