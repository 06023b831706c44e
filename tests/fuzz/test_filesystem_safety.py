"""Fuzzed writes never touch a file outside the data dir, and traversal-looking S3 keys are
plain keys: stored, read back and listed exactly as sent.

The data dir sits six levels deep under the test's folder, with an `outside/sentinel.txt`
beside every level and the working directory moved next to them, so a key or name that climbs
out (`../../..`, `%2e%2e`, an absolute path, a backslash path) lands somewhere the snapshot sees.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote_plus
from xml.etree import ElementTree as ET

import pytest
from fuzz_checks import check_response
from fuzz_strategies import RawRequest, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from tule.aws.gateway import Gateway, create_app
from tule.aws.http import HttpResponse
from tule.config import Settings
from tule.testing import TuleServer

DEPTH = 6
BUCKET = "fuzz-fs-bucket"
LOG_GROUP = "fuzz-fs-group"

# Hypothesis warns when it prints a huge drawn value (60 kB headers are the point here).
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@dataclass
class Layout:
    root: Path
    data: Path

    def snapshot(self) -> dict[str, tuple[str, int, str]]:
        """Everything under the root but the data dir: kind, size and content digest."""
        seen: dict[str, tuple[str, int, str]] = {}
        for folder, dirs, files in os.walk(self.root):
            here = Path(folder)
            if here == self.data:
                dirs[:] = []
                continue
            for name in dirs:
                path = here / name
                if path != self.data:
                    seen[str(path.relative_to(self.root))] = ("dir", 0, "")
            for name in files:
                path = here / name
                kind = "link" if path.is_symlink() else "file"
                digest = hashlib.sha256(path.read_bytes()).hexdigest() if kind == "file" else ""
                seen[str(path.relative_to(self.root))] = (kind, path.lstat().st_size, digest)
        return seen


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    root = tmp_path_factory.mktemp("fuzz-fs")
    level = root
    for depth in range(DEPTH):
        (level / "outside").mkdir(parents=True)
        (level / "outside" / "sentinel.txt").write_text(f"sentinel {depth}\n")
        level = level / f"level{depth}"
    (root / "cwd").mkdir()
    return Layout(root, level / "data")


@pytest.fixture(scope="module")
def app(layout: Layout) -> Iterator[Gateway]:
    previous = Path.cwd()
    os.chdir(layout.root / "cwd")  # a relative path written anywhere lands inside the root
    gateway = create_app(Settings(data_dir=layout.data, fsync=False))
    try:
        send(gateway, RawRequest("PUT", f"/{BUCKET}"))
        send(gateway, _logs("CreateLogGroup", {"logGroupName": LOG_GROUP}))
        yield gateway
    finally:
        gateway.close()
        os.chdir(previous)


def send(app: Gateway, raw: RawRequest) -> HttpResponse:
    req = raw.to_http_request()
    resp = app.dispatcher.handle(req)
    check_response(req, resp)
    return resp


def implements(app: Gateway, service: str, *operations: str) -> bool:
    table = app.dispatcher.handlers.get(service, {})
    return all(op in table for op in operations)


def _logs(operation: str, body: dict) -> RawRequest:
    headers = (
        ("X-Amz-Target", f"Logs_20140328.{operation}"),
        ("Content-Type", "application/x-amz-json-1.1"),
    )
    return RawRequest("POST", "/", "", headers, json.dumps(body).encode())


# --- what climbs out ---------------------------------------------------------------------------


def _climbs(layout_root: str) -> st.SearchStrategy[str]:
    """Names that would escape a naive `data_dir / name`: dot segments in every spelling,
    backslashes, absolute paths (to the sentinels themselves), NUL and `~`."""
    segment = st.sampled_from(
        (
            "..",
            ".",
            "%2e%2e",
            "%2E%2e",
            "..%2f",
            "..%5c",
            "..\\..",
            "\\",
            "outside",
            "sentinel.txt",
            "cwd",
            "~",
            "",
            "\x00",
            "con",
            layout_root,
            layout_root + "/outside/sentinel.txt",
        )
    )
    climbs = st.integers(1, DEPTH + 2).map(lambda n: "../" * n + "outside/sentinel.txt")
    joined = st.tuples(st.lists(segment, min_size=1, max_size=6), st.sampled_from("/\\")).map(
        lambda a: a[1].join(a[0])
    )
    return st.one_of(climbs, joined, st.just(layout_root + "/outside/pwned"))


@fuzz_settings(120)
@given(data=st.data())
def test_fuzzed_writes_stay_inside_the_data_dir(
    layout: Layout, app: Gateway, data: st.DataObject
) -> None:
    before = layout.snapshot()
    name = data.draw(_climbs(str(layout.root)), label="name")
    raw_name = quote(name, safe="/")
    body = uuid.uuid4().bytes
    writes = [
        RawRequest("PUT", f"/{raw_name}"),  # CreateBucket with the name as it is
        RawRequest("PUT", f"/{quote(name, safe='')}"),
        RawRequest("PUT", "/", "", (("Host", f"{name}.localhost"),)),
        RawRequest("PUT", f"/{BUCKET}/{raw_name}", "", (), body),
        RawRequest("PUT", f"/{BUCKET}/{name}", "", (), body),  # not encoded at all
        RawRequest(
            "PUT", f"/{BUCKET}/copy-target", "", (("x-amz-copy-source", f"/{BUCKET}/{raw_name}"),)
        ),
        RawRequest("PUT", f"/{BUCKET}/copy-2", "", (("x-amz-copy-source", raw_name),)),
        RawRequest(
            "PUT",
            f"/{BUCKET}/scoped",
            "",
            (
                (
                    "Authorization",
                    f"AWS4-HMAC-SHA256 Credential=AK/20240101/{name.replace('/', '')}/s3/"
                    "aws4_request, SignedHeaders=host, Signature=00",
                ),
            ),
            body,
        ),
        _logs("CreateLogGroup", {"logGroupName": name}),
        _logs("CreateLogStream", {"logGroupName": LOG_GROUP, "logStreamName": name}),
        _logs(
            "PutLogEvents",
            {
                "logGroupName": LOG_GROUP,
                "logStreamName": name,
                "logEvents": [{"timestamp": int(time.time() * 1000), "message": name}],
            },
        ),
    ]
    for raw in writes:
        send(app, raw)
    _multipart_upload(app, f"/{BUCKET}/{raw_name}", body)
    assert layout.snapshot() == before, f"a write with {name!r} changed files outside the data dir"


def _multipart_upload(app: Gateway, path: str, body: bytes) -> None:
    """Create, upload one part to, and complete a multipart upload at `path`."""
    created = send(app, RawRequest("POST", path, "uploads"))
    if created.status_code != 200:
        return
    upload_id = next(
        el.text or "" for el in ET.fromstring(created.body).iter() if el.tag.endswith("UploadId")
    )
    query = f"partNumber=1&uploadId={quote(upload_id, safe='')}"
    part = send(app, RawRequest("PUT", path, query, (), body))
    etag = part.headers.get("etag", "")
    done = (
        f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
        "</CompleteMultipartUpload>"
    )
    send(app, RawRequest("POST", path, f"uploadId={quote(upload_id, safe='')}", (), done.encode()))


# --- keys are keys -----------------------------------------------------------------------------

TRAVERSAL_KEYS = (
    "../../etc/passwd",
    "../outside/sentinel.txt",
    "..",
    ".",
    "./a",
    "a/../b",
    "a/./b",
    "/leading/slash",
    "//double//slashes//",
    "trailing/",
    "..\\..\\windows\\win.ini",
    "%2e%2e/%2e%2e/literally-percent",
    "a%2Fb",
    "sp ace+plus",
    "~/.ssh/id_rsa",
    "/etc/passwd",
    "C:\\Windows\\System32",
    "é/ü/日本",
)

traversal_keys = st.one_of(
    st.sampled_from(TRAVERSAL_KEYS),
    st.lists(
        st.sampled_from(("..", ".", "", "a", "%2e%2e", "\\", "~", " ", "+", "é")),
        min_size=1,
        max_size=8,
    ).map("/".join),
).filter(lambda k: k and len(k.encode()) <= 1024)


def _body(resp: HttpResponse) -> bytes:
    if resp.stream is None:
        return resp.body
    stream = resp.stream
    read = getattr(stream, "read", None)
    return read() if callable(read) else b"".join(stream)


def _listed_keys(resp: HttpResponse) -> list[str]:
    root = ET.fromstring(resp.body)
    return [
        unquote_plus(el.text or "")
        for el in root.iter()
        if el.tag.rsplit("}", 1)[-1] == "Key" and el.text is not None
    ]


@fuzz_settings(80)
@given(key=traversal_keys)
def test_traversal_looking_keys_round_trip_as_plain_keys(app: Gateway, key: str) -> None:
    if not implements(app, "s3", "PutObject", "GetObject", "ListObjectsV2"):
        pytest.skip("S3 objects are not implemented yet")
    body = uuid.uuid4().bytes
    path = f"/{BUCKET}/{quote(key, safe='/')}"
    put = send(app, RawRequest("PUT", path, "", (), body))
    assert put.status_code == 200, (key, put.body)
    got = send(app, RawRequest("GET", path))
    assert got.status_code == 200, (key, got.body)
    assert _body(got) == body, key
    listing = send(
        app,
        RawRequest(
            "GET", f"/{BUCKET}", f"list-type=2&encoding-type=url&prefix={quote(key, safe='')}"
        ),
    )
    assert listing.status_code == 200
    assert key in _listed_keys(listing), (key, listing.body)


def test_boto3_round_trips_traversal_looking_keys(tmp_path: Path) -> None:
    layout = Layout(tmp_path, tmp_path / "data")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "sentinel.txt").write_text("sentinel\n")
    before = layout.snapshot()
    with TuleServer(layout.data, fsync=False) as server:
        if not implements(server.app, "s3", "PutObject", "GetObject", "ListObjectsV2"):
            pytest.skip("S3 objects are not implemented yet")
        s3 = server.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        for i, key in enumerate(TRAVERSAL_KEYS):
            s3.put_object(Bucket=BUCKET, Key=key, Body=f"body {i}".encode())
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
        assert sorted(listed) == sorted(TRAVERSAL_KEYS)
        for i, key in enumerate(TRAVERSAL_KEYS):
            assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == f"body {i}".encode()
    assert layout.snapshot() == before
