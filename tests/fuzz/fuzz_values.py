"""Hostile values for the fuzz strategies: the short lists of inputs that have broken real
servers (overlong UTF-8, entity expansion, huge numbers, traversal, odd hosts and dates), kept
apart from the strategies that combine them."""

from __future__ import annotations

from typing import Any

METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS")

ODD_METHODS = ("TRACE", "CONNECT", "PROPFIND", "get", "BREW")

NASTY_STRINGS = (
    "",
    " ",
    "..",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/passwd",
    "%zz",
    "%",
    "%00",
    "\x00",
    "\x01\x02\x1f",
    "\r\n",
    "é",
    "\u202e",
    "\ufffe",
    "\U0001f600",
    "a" * 1025,
    "${jndi:ldap://x}",
    "<x/>",
    "]]>",
    "&amp;",
    "'\"",
    "NaN",
    "-0",
    "1e400",
    "18446744073709551616",
    "-9223372036854775809",
)

NASTY_NUMBERS_TEXT = (
    "0",
    "-1",
    "2147483648",
    "9223372036854775808",
    "1" + "0" * 5000,
    "1e400",
    "-1e400",
    "1e-400",
    "NaN",
    "Infinity",
    "-Infinity",
    "0x10",
    "1_000",
    "١٢٣",
    "+5",
    " 7 ",
    "",
    "true",
)

NASTY_DATES = (
    "notadate",
    "",
    "0",
    "-1",
    "inf",
    "-inf",
    "nan",
    "1e300",
    "-1e300",
    "99999999999999999999",
    "Mon, 01 Jan 0001 00:00:00 GMT",
    "Mon, 01 Jan 0001 00:00:00 -0000",
    "Fri, 31 Dec 9999 23:59:59 -2359",
    "Thu, 32 Foo 2024 25:61:61 GMT",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "2024-13-45T99:99:99Z",
    "2024-01-01",
    "Tue, 15 Nov 1994 08:12:31 GMT",
)

NASTY_BASE64 = (
    "!!!",
    "a",
    "ab",
    "abc",
    "====",
    "YQ",
    "YQ=",
    "YQ===",
    "Y Q==",
    "é",
    "\x00",
    "AAAA" * 3 + "*",
    "A" * 5000,
    "-_-_",
)

# Percent-escapes no decoder should trust: invalid hex, truncated, NUL, overlong UTF-8 for `/`
# and `.`, an encoded surrogate, a lone continuation byte, encoded separators and dots.
BAD_ESCAPES = (
    "%zz",
    "%",
    "%0",
    "%00",
    "%c0%af",
    "%c0%ae%c0%ae",
    "%e0%80%af",
    "%f0%80%80%af",
    "%ed%a0%80",
    "%ff",
    "%80",
    "%e2%82",
    "%2e%2e",
    "%2E%2E%2F",
    "%2f",
    "%5c",
    "%25",
    "%%%",
    "%u002e",
    "+",
    "%0d%0aX-Injected:%20yes",
)

PATH_TRICKS = (
    "/..",
    "/../..",
    "/bucket/../../etc/passwd",
    "/bucket/%2e%2e/%2e%2e/etc/passwd",
    "/bucket/..%2f..%2fetc%2fpasswd",
    "/bucket/./.",
    "/bucket/.",
    "//",
    "///",
    "//bucket//key",
    "/bucket//",
    "/bucket\\..\\..\\x",
    "\\bucket\\key",
    "/bucket/" + "k" * 1100,
    "/bucket/" + "%e2%82%ac" * 400,
    "/" + "b" * 300,
    "/bucket/key%00.txt",
    "/bucket/key%01%02%1f%7f",
    "/bucket/%0d%0a",
    "/bucket/~/.ssh/id_rsa",
    "/bucket/C:%5cWindows",
    "/.tule",
    "/_tule/health/..",
    "*",
    "",
    "relative/path",
    "http://evil.example/bucket/key",
    "/endpoints/../invocations",
    "/2015-03-31/functions/..%2f..%2f/invocations",
)

ODD_HOSTS = (
    "",
    ":",
    "localhost",
    "..localhost",
    "...localhost:4566",
    "a..b.localhost",
    "bucket.localhost:abc",
    "bucket.localhost:99999999999",
    "bucket.localhost.",
    "BUCKET.localhost",
    "*.localhost",
    "[::1]:4566",
    "[::1",
    "::1",
    "1.2.3.4",
    "999.999.999.999:1",
    "x.s3.amazonaws.com",
    ".s3.amazonaws.com",
    "b.s3.us-east-1.amazonaws.com:443",
    "b.s3-accelerate.dualstack.amazonaws.com",
    "é.localhost",
    "\xff\xfe.localhost",
    "a%2fb.localhost",
    "a/b.localhost",
    "../../etc.localhost",
    "a\\b.localhost",
    "b" * 300 + ".localhost",
    "localhost:-1",
    "user:pass@localhost",
)

CHECKSUM_HEADERS = (
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
)

ODD_RANGES = (
    "bytes=abc",
    "bytes=5-1",
    "bytes=-",
    "bytes=-0",
    "bytes=0-",
    "bytes=99999999999999999999-",
    "bytes=-99999999999999999999",
    "bytes=0-1,2-3",
    "bytes=1-2-3",
    "items=0-1",
    "bytes 0-1",
    "bytes=\xff-1",
    "=",
    "",
)

TIME_HEADERS = (
    "if-modified-since",
    "if-unmodified-since",
    "x-amz-copy-source-if-modified-since",
    "x-amz-copy-source-if-unmodified-since",
    "x-amz-object-lock-retain-until-date",
    "expires",
    "date",
    "x-amz-date",
)

ODD_AUTHORIZATION = (
    "",
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 ",
    "AWS4-HMAC-SHA256 Credential=",
    "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request",
    "AWS4-HMAC-SHA256 Credential=AK/20240101/../s3/aws4_request, SignedHeaders=host, Signature=0",
    "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/../aws4_request, SignedHeaders=, Signature=",
    "AWS4-HMAC-SHA256 Credential=AK/x/../../../aws4_request, SignedHeaders=host;;;, Signature=é",
    "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/logs/aws4_request,,,,=,=,Signature",
    "AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
    "Bearer " + "x" * 2000,
    "AWS4-HMAC-SHA256 Credential=" + "/" * 500,
)


def deep_json(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth  # unterminated


RAW_JSON_BODIES = (
    b"",
    b" ",
    b"null",
    b"[]",
    b"1",
    b'"str"',
    b"true",
    b"{",
    b"}",
    b"{]",
    b'{"a":}',
    b'{"a":1,}',
    b"{} {}",
    b"{}garbage",
    b"\x00",
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    b'{"Name": "\xff\xfe"}',
    b'{"Name": "\xc0\xaf"}',
    b'{"Name": "\xed\xa0\x80"}',
    b'{"Name": "\\ud800"}',
    b'{"Name": "\\udc00\\ud800"}',
    b'{"Name": "\\u0000"}',
    b'{"Limit": NaN}',
    b'{"Limit": Infinity}',
    b'{"Limit": -Infinity}',
    b'{"Limit": 1e999}',
    b'{"Limit": -1e999}',
    b'{"Limit": 1' + b"0" * 5000 + b"}",
    b'{"Limit": 0.' + b"0" * 5000 + b"1}",
    b'{"a": 1, "a": 2}',
    b'{"\\u0000": 1}',
    b"{'single': 'quotes'}",
)

# method, path template, query, operation whose XML payload is fuzzed
S3_XML_OPERATIONS = (
    ("PUT", "/{bucket}", "", "CreateBucket"),
    ("POST", "/{bucket}", "delete", "DeleteObjects"),
    ("POST", "/{bucket}/{key}", "uploadId=2f1c3d", "CompleteMultipartUpload"),
    ("PUT", "/{bucket}", "lifecycle", "PutBucketLifecycleConfiguration"),
    ("PUT", "/{bucket}", "tagging", "PutBucketTagging"),
    ("PUT", "/{bucket}/{key}", "tagging", "PutObjectTagging"),
    ("PUT", "/{bucket}", "versioning", "PutBucketVersioning"),
    ("PUT", "/{bucket}", "encryption", "PutBucketEncryption"),
)

_BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]><Tagging><TagSet><Tag><Key>&lol9;</Key><Value>v</Value></Tag></TagSet></Tagging>"
)

_QUADRATIC = (
    '<!DOCTYPE q [<!ENTITY a "'
    + "a" * 50_000
    + '">]><Delete><Object><Key>'
    + "&a;" * 2000
    + "</Key></Object></Delete>"
)

_EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
    "<Tagging><TagSet><Tag><Key>&ext;</Key><Value>v</Value></Tag></TagSet></Tagging>"
)

_PARAMETER = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:1/evil.dtd"> %p;]>'
    "<Delete><Object><Key>k</Key></Object></Delete>"
)

_XINCLUDE = (
    '<Tagging xmlns:xi="http://www.w3.org/2001/XInclude"><TagSet><Tag><Key>'
    '<xi:include href="file:///etc/passwd" parse="text"/></Key><Value>v</Value></Tag></TagSet>'
    "</Tagging>"
)

# Documents declaring a DTD (entity expansion, external and parameter entities), in the
# encodings a byte-level check would miss; each must be refused as MalformedXML.
DTD_ATTACKS: tuple[bytes, ...] = (
    _BILLION_LAUGHS.encode(),
    _BILLION_LAUGHS.replace(
        '<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>'
    ).encode("utf-16"),
    _BILLION_LAUGHS.replace('<?xml version="1.0"?>', "").encode("utf-16-be"),
    b"\xef\xbb\xbf" + _BILLION_LAUGHS.encode(),
    _BILLION_LAUGHS.replace("DOCTYPE", "doctype").encode(),
    _BILLION_LAUGHS.replace("<!DOCTYPE", "<!DOCTYPE\n").encode(),
    _QUADRATIC.encode(),
    _QUADRATIC.encode("utf-16"),
    _EXTERNAL.encode(),
    _EXTERNAL.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode(
        "utf-16"
    ),
    _EXTERNAL.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-32"?>').encode(
        "utf-32"
    ),
    _PARAMETER.encode(),
    _PARAMETER.encode("utf-16"),
)

# Other hostile documents: XInclude, foreign and unknown encodings, processing instructions.
XML_TRICKS: tuple[bytes, ...] = (
    _XINCLUDE.encode(),
    b'<?xml version="1.0" encoding="ISO-8859-1"?><Tagging>\xe9</Tagging>',
    b'<?xml version="1.0" encoding="x-no-such-codec"?><Tagging/>',
    b'<?xml version="1.0" encoding="UTF-7"?>+ADw-Tagging/+AD4-',
    b'<?xml-stylesheet href="file:///etc/passwd"?><Tagging/>',
)

RAW_XML_BODIES: tuple[bytes, ...] = (
    b" ",
    b"<",
    b"<>",
    b"<Delete>",
    b"</Delete>",
    b"<Delete><Object></Delete>",
    b"<Delete><Object><Key>k</Key></Object></Delete><Extra/>",
    b"garbage",
    b"\x00\x01\x02",
    b"\xff\xfe",
    b"<Tagging>\xc0\xaf</Tagging>",
    b"<Tagging>&undefined;</Tagging>",
    b"<Tagging>&#0;</Tagging>",
    b"<Tagging>&#x1;</Tagging>",
    b"<Tagging>&#xD800;</Tagging>",
    b"<Tagging>&#99999999;</Tagging>",
    b"<Tagging><![CDATA[</Tagging>]]></Tagging>",
    b"<a:Tagging xmlns:a='urn:x'/>",
    b"<b:Tagging/>",
    b"<Tagging xmlns='http://s3.amazonaws.com/doc/2006-03-01/' a='1' a='2'/>",
    b"<Delete>" + b"<Object>" * 5000 + b"</Object>" * 5000 + b"</Delete>",
    b"<Delete>" + b"<Object><Key>k</Key></Object>" * 3000 + b"</Delete>",
    b"<?xml version='1.0'?><?xml version='1.0'?><Delete/>",
    b"<!-- only a comment -->",
)

# method, raw path, query: the common S3 requests odd headers are attached to
S3_REQUESTS = (
    ("GET", "/", ""),
    ("GET", "/fuzz-bucket", "list-type=2"),
    ("GET", "/fuzz-bucket", ""),
    ("HEAD", "/fuzz-bucket", ""),
    ("PUT", "/fuzz-bucket", ""),
    ("DELETE", "/fuzz-bucket", ""),
    ("GET", "/fuzz-bucket/key.txt", ""),
    ("HEAD", "/fuzz-bucket/key.txt", ""),
    ("PUT", "/fuzz-bucket/key.txt", ""),
    ("DELETE", "/fuzz-bucket/key.txt", ""),
    ("POST", "/fuzz-bucket/key.txt", "uploads"),
    ("PUT", "/fuzz-bucket/key.txt", "partNumber=1&uploadId=abc"),
    ("GET", "/fuzz-bucket/key.txt", "attributes"),
    ("GET", "/fuzz-bucket", "uploads"),
    ("GET", "/fuzz-bucket", "versions"),
)

ODD_QUERIES = (
    "list-type=2&max-keys=%zz",
    "list-type=2&max-keys=99999999999999999999999",
    "list-type=2&max-keys=-1",
    "list-type=2&prefix=%ff&delimiter=%c0%af",
    "list-type=2&continuation-token=%%%",
    "list-type=2&encoding-type=bogus",
    "list-type=2&start-after=%00",
    "list-type=3",
    "list-type",
    "uploadId=%00&partNumber=0",
    "uploadId=x&partNumber=99999999999999999999",
    "uploadId=x&partNumber=%zz",
    "versionId=%ff",
    "versionId=",
    "max-uploads=abc&uploads",
    "part-number-marker=-5&uploadId=x",
    "uploads&uploads&uploads",
    "tagging&delete&lifecycle",
    "=",
    "&&&",
    "a=b=c",
    "%zz=%zz",
    "x-id=PutObject",
    "response-content-type=%0d%0aX-Injected:%20yes",
    "X-Amz-Credential=a%2F20240101%2F..%2Fs3%2Faws4_request&X-Amz-Algorithm=AWS4-HMAC-SHA256",
    "X-Amz-Expires=99999999999999999999",
    "k=" + "v" * 20_000,
    "&".join(f"k{i}=v" for i in range(2000)),
)

QUERY_KEYS = (
    "Action",
    "Version",
    "",
    ".",
    "..",
    "RoleArn",
    "RoleSessionName",
    "DurationSeconds",
    "Tags.member.1.Key",
    "Tags.member.999999.Key",
    "Tags.member.0.Key",
    "Tags.member.-1.Value",
    "Tags.member.",
    "Tags.member.1",
    "Tags.member.1.Key.Extra",
    "PolicyArns.member.1.arn",
    "TransitiveTagKeys.member.1",
    "ProvidedContexts.member.1.ContextAssertion",
    "Tags",
    "a[]",
    "a[0][b]",
    "%zz",
    "%00",
    "Action%00",
    "\xe9",
    "x" * 5000,
)

JSON_VALUES_BY_TYPE: dict[str, tuple[Any, ...]] = {
    "timestamp": (
        1e300,
        -1e300,
        10**20,
        2**63,
        10**400,
        1.7976931348623157e308,
        "1e300",
        "inf",
        "nan",
        "-inf",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        "notadate",
        "",
        True,
        [],
        {},
    ),
    "integer": (2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 10**400, 1.5, "1", True, 1e308, [], {}),
    "long": (2**63, -(2**63) - 1, 10**400, -(10**400), 1.5, "1", False, 1e308, {}),
    "float": (10**400, -(10**400), 1e308, "1.0", True, [], {}),
    "double": (10**400, -(10**400), 1e308, 5e-324, "1.0", True, []),
    "boolean": ("true", 1, 0, "", [], {}),
    "blob": (*NASTY_BASE64, 1, True, [], {}),
    "string": (*NASTY_STRINGS, "\ud800", "a\udfff", "\x00" * 3, "a" * 70_000, 1, 1.5, True, [], {}),
}

TEXT_VALUES_BY_TYPE: dict[str, tuple[str, ...]] = {
    "timestamp": NASTY_DATES,
    "integer": NASTY_NUMBERS_TEXT,
    "long": NASTY_NUMBERS_TEXT,
    "float": NASTY_NUMBERS_TEXT,
    "double": NASTY_NUMBERS_TEXT,
    "boolean": ("yes", "", "TRUE ", "1", "fals", "true\x00"),
    "blob": NASTY_BASE64,
    "string": NASTY_STRINGS,
    "list": ("a,,b", ",", "\xff,\xe9", " , ", ",".join(["x"] * 2000)),
    "map": NASTY_STRINGS,
}

# Tried in order against a required string member's pattern and length: the first that fits
# is its baseline value. The names match the resources the property tests create up front.
BASELINE_STRINGS = (
    "fuzz-group",
    "fuzz-stream",
    "fuzz-bucket",
    "abc",
    "a",
    "1",
    "arn:aws:logs:us-east-1:000000000000:log-group:fuzz-group",
    "arn:aws:iam::000000000000:role/fuzz",
    "s3://fuzz-bucket/key.txt",
    "ml.m5.large",
)
