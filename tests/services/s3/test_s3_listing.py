"""Listings through boto3: ListObjects v1/v2, delimiters, pagination, URL encoding."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from s3_helpers import error_code, status

from tule.services.s3.models import ObjectAttributes
from tule.testing import TuleServer

KEYS = ["a.txt", "dir/b.txt", "dir/c.txt", "dir/sub/d.txt", "e.txt", "other/f.txt"]


@pytest.fixture
def filled(s3: Any, bucket: str) -> str:
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket


def keys_of(page: dict[str, Any]) -> list[str]:
    return [o["Key"] for o in page.get("Contents", [])]


def prefixes_of(page: dict[str, Any]) -> list[str]:
    return [p["Prefix"] for p in page.get("CommonPrefixes", [])]


def test_v2_lists_every_key_in_order(s3: Any, filled: str) -> None:
    page = s3.list_objects_v2(Bucket=filled)
    assert keys_of(page) == KEYS
    assert page["KeyCount"] == len(KEYS) and page["IsTruncated"] is False
    first = page["Contents"][0]
    assert first["Size"] == len(b"a.txt") and first["StorageClass"] == "STANDARD"
    assert first["ETag"].startswith('"') and "Owner" not in first


def test_keys_are_ordered_by_utf8_bytes(s3: Any, bucket: str) -> None:
    keys = ["z", "é", "Z", "a", "\uff5a", "0", "~"]  # U+FF5A: fullwidth z
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == sorted(keys, key=lambda k: k.encode())


def test_prefix_filters(s3: Any, filled: str) -> None:
    assert keys_of(s3.list_objects_v2(Bucket=filled, Prefix="dir/")) == [
        "dir/b.txt",
        "dir/c.txt",
        "dir/sub/d.txt",
    ]


def test_delimiter_rolls_keys_up_into_common_prefixes(s3: Any, filled: str) -> None:
    page = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert keys_of(page) == ["a.txt", "e.txt"]
    assert prefixes_of(page) == ["dir/", "other/"]
    assert page["KeyCount"] == 4


def test_delimiter_under_a_prefix(s3: Any, filled: str) -> None:
    page = s3.list_objects_v2(Bucket=filled, Prefix="dir/", Delimiter="/")
    assert keys_of(page) == ["dir/b.txt", "dir/c.txt"]
    assert prefixes_of(page) == ["dir/sub/"]


def test_common_prefixes_count_toward_max_keys(s3: Any, filled: str) -> None:
    seen_keys, seen_prefixes = [], []
    kwargs: dict[str, Any] = {}
    while True:
        page = s3.list_objects_v2(Bucket=filled, Delimiter="/", MaxKeys=1, **kwargs)
        assert page["KeyCount"] == 1
        seen_keys += keys_of(page)
        seen_prefixes += prefixes_of(page)
        if not page["IsTruncated"]:
            break
        kwargs = {"ContinuationToken": page["NextContinuationToken"]}
    assert (seen_keys, seen_prefixes) == (["a.txt", "e.txt"], ["dir/", "other/"])


def test_max_keys_truncates_with_a_continuation_token(s3: Any, filled: str) -> None:
    page = s3.list_objects_v2(Bucket=filled, MaxKeys=2)
    assert keys_of(page) == KEYS[:2] and page["IsTruncated"] is True
    rest = s3.list_objects_v2(Bucket=filled, ContinuationToken=page["NextContinuationToken"])
    assert keys_of(rest) == KEYS[2:]
    assert rest["ContinuationToken"] == page["NextContinuationToken"]


def test_start_after_skips_keys(s3: Any, filled: str) -> None:
    page = s3.list_objects_v2(Bucket=filled, StartAfter="dir/c.txt")
    assert keys_of(page) == ["dir/sub/d.txt", "e.txt", "other/f.txt"]
    assert page["StartAfter"] == "dir/c.txt"


def test_fetch_owner_adds_the_owner(s3: Any, filled: str) -> None:
    page = s3.list_objects_v2(Bucket=filled, FetchOwner=True)
    assert len(page["Contents"][0]["Owner"]["ID"]) == 64


def test_max_keys_zero_lists_nothing(s3: Any, filled: str) -> None:
    page = s3.list_objects_v2(Bucket=filled, MaxKeys=0)
    assert keys_of(page) == [] and page["KeyCount"] == 0


def test_bad_continuation_token_is_invalid_argument(s3: Any, filled: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.list_objects_v2(Bucket=filled, ContinuationToken="not!a!token")
    assert (error_code(caught), status(caught)) == ("InvalidArgument", 400)


def test_url_encoding_round_trips_awkward_keys(s3: Any, bucket: str) -> None:
    keys = ["a b/c+d.txt", "100%/x", "ü/&<>\"'", "tab\tkey"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    page = s3.list_objects_v2(Bucket=bucket)  # botocore asks for, and decodes, url encoding
    assert page["EncodingType"] == "url"
    assert keys_of(page) == sorted(keys, key=lambda k: k.encode())
    grouped = s3.list_objects_v2(Bucket=bucket, Delimiter="/", Prefix="")
    assert prefixes_of(grouped) == ["100%/", "a b/", "ü/"]


def test_raw_response_is_percent_encoded(server: TuleServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a b+c", Body=b"")
    import urllib.request

    url = f"{server.endpoint_url}/{bucket}?list-type=2&encoding-type=url"
    body = urllib.request.urlopen(url).read().decode()
    assert "<Key>a%20b%2Bc</Key>" in body
    assert "<EncodingType>url</EncodingType>" in body


def test_v1_marker_and_next_marker(s3: Any, filled: str) -> None:
    page = s3.list_objects(Bucket=filled, MaxKeys=2)
    assert keys_of(page) == KEYS[:2] and page["IsTruncated"] is True
    assert "NextMarker" not in page  # only sent with a delimiter
    rest = s3.list_objects(Bucket=filled, Marker=KEYS[1])
    assert keys_of(rest) == KEYS[2:]
    grouped = s3.list_objects(Bucket=filled, Delimiter="/", MaxKeys=2)
    assert (keys_of(grouped), prefixes_of(grouped)) == (["a.txt"], ["dir/"])
    assert grouped["NextMarker"] == "dir/"
    after = s3.list_objects(Bucket=filled, Delimiter="/", Marker=grouped["NextMarker"])
    assert (keys_of(after), prefixes_of(after)) == (["e.txt"], ["other/"])


def _seed(server: TuleServer, bucket: str, count: int) -> list[str]:
    """Write many keys through the domain: the listing, not the PUT path, is under test."""
    domain = server.app.domains["s3"]
    keys = [f"data/{i:05d}.bin" for i in range(count)]
    for key in keys:
        domain.objects.put(bucket, key, io.BytesIO(b"x"), ObjectAttributes())
    return keys


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TuleServer, list[str]]]:
    with TuleServer(tmp_path_factory.mktemp("many"), fsync=False) as server:
        server.client("s3").create_bucket(Bucket="many-keys")
        yield server, _seed(server, "many-keys", 2345)


def test_paginator_walks_more_than_1000_keys(many: tuple[TuleServer, list[str]]) -> None:
    server, keys = many
    s3 = server.client("s3")
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket="many-keys"))
    assert [p["KeyCount"] for p in pages] == [1000, 1000, 345]
    assert [k for p in pages for k in keys_of(p)] == keys
    assert s3.list_objects_v2(Bucket="many-keys", MaxKeys=5000)["KeyCount"] == 1000


def test_v1_paginator_walks_more_than_1000_keys(many: tuple[TuleServer, list[str]]) -> None:
    server, keys = many
    pages = server.client("s3").get_paginator("list_objects").paginate(Bucket="many-keys")
    assert [k for p in pages for k in keys_of(p)] == keys


def test_delimiter_skips_large_prefixes_in_one_step(many: tuple[TuleServer, list[str]]) -> None:
    server, _ = many
    page = server.client("s3").list_objects_v2(Bucket="many-keys", Delimiter="/")
    assert prefixes_of(page) == ["data/"] and page["KeyCount"] == 1
