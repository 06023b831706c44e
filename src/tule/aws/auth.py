"""AWS Signature Version 4 verification: whether a request was signed by a known key.

The canonical request is rebuilt exactly as botocore's signer builds it, so any request a real
boto3 client signs verifies, and any change to what was signed does not.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes

from tule.aws.http import HttpRequest
from tule.errors import AwsError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW_S = 15 * 60
MAX_PRESIGNED_EXPIRES_S = 7 * 24 * 3600
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_ISO8601 = "%Y-%m-%dT%H:%M:%SZ"
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")

_S3_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
_JSON_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


@dataclass(frozen=True)
class Credential:
    """The credential scope of a signature: who signed, for which day, region and service."""

    access_key_id: str
    date: str
    region: str
    service: str


@dataclass(frozen=True)
class _Signature:
    """What a request claims about its signature, from the Authorization header or the query."""

    credential: Credential
    signed_headers: str
    signature: str
    amz_date: str | None
    presigned: bool
    expires: str | None = None


def credential_scope(request: HttpRequest) -> Credential | None:
    """The credential scope the request was signed with; None when it carries none we can read."""
    signed = _parse(request)
    return signed.credential if signed else None


def verify(request: HttpRequest, keys: Mapping[str, str], now: float, *, s3: bool) -> str:
    """The access key id that validly signed `request`, or the `AwsError` AWS would answer.

    `keys` maps access key ids to secrets; `now` is the server's clock in epoch seconds; `s3`
    picks S3's error codes over those of the JSON/query services.
    """
    signed = _parse(request)
    if signed is None:
        if "authorization" in request.headers or "X-Amz-Credential" in request.query:
            raise _malformed(s3, signed_by_query="X-Amz-Credential" in request.query)
        if s3:
            raise AwsError("AccessDenied", "Access Denied", 403)
        raise AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    cred = signed.credential
    secret = keys.get(cred.access_key_id)
    if secret is None:
        if s3:
            raise AwsError(
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                403,
                fields={"AWSAccessKeyId": cred.access_key_id},
            )
        raise AwsError(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            403,
        )
    signed_at = _epoch(signed.amz_date)
    if signed.amz_date is None or signed_at is None:
        raise _malformed(s3, signed.presigned, "AWS authentication requires a valid Date.")
    if signed.amz_date[:8] != cred.date:
        raise _malformed(
            s3, signed.presigned, "Invalid credential date. Date is not the same as X-Amz-Date."
        )
    _check_time(signed, signed_at, now, s3)

    canonical = _canonical_request(request, signed, s3)
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            signed.amz_date,
            f"{cred.date}/{cred.region}/{cred.service}/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        )
    )
    key = _signing_key(secret, cred.date, cred.region, cred.service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    # Bytes, because compare_digest refuses non-ASCII str and the signature is client input.
    if not hmac.compare_digest(expected.encode(), signed.signature.encode()):
        if s3:
            raise AwsError(
                "SignatureDoesNotMatch",
                _S3_MISMATCH,
                403,
                fields={
                    "AWSAccessKeyId": cred.access_key_id,
                    "StringToSign": string_to_sign,
                    "SignatureProvided": signed.signature,
                    "CanonicalRequest": canonical,
                },
            )
        raise AwsError("InvalidSignatureException", _JSON_MISMATCH, 403)
    _check_declared_payload(request, s3)
    return cred.access_key_id


def _parse(request: HttpRequest) -> _Signature | None:
    header = request.headers.get("authorization")
    if header is not None:
        return _from_header(header, request.headers)
    if "X-Amz-Credential" in request.query:
        return _from_query(request)
    return None


def _from_header(value: str, headers: Mapping[str, str]) -> _Signature | None:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        return None
    fields = dict(item.strip().partition("=")[::2] for item in rest.split(","))
    cred = _parse_credential(fields.get("Credential", ""))
    if cred is None or not fields.get("SignedHeaders") or not fields.get("Signature"):
        return None
    # botocore signs with the Date header instead of X-Amz-Date when the caller set one.
    amz_date = headers.get("x-amz-date") or _amz_date_from_http_date(headers.get("date"))
    return _Signature(cred, fields["SignedHeaders"], fields["Signature"], amz_date, False)


def _from_query(request: HttpRequest) -> _Signature | None:
    params = request.query_dict()
    cred = _parse_credential(params.get("X-Amz-Credential", ""))
    signed_headers = params.get("X-Amz-SignedHeaders")
    signature = params.get("X-Amz-Signature")
    if params.get("X-Amz-Algorithm") != ALGORITHM or cred is None:
        return None
    if not signed_headers or not signature:
        return None
    return _Signature(
        cred, signed_headers, signature, params.get("X-Amz-Date"), True, params.get("X-Amz-Expires")
    )


def _parse_credential(value: str) -> Credential | None:
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        return None
    return Credential(*parts[:4])


def _amz_date_from_http_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    # formatdate's "-0000" zone parses as naive; RFC 5322 means UTC by it.
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.strftime(_AMZ_DATE)


def _epoch(amz_date: str | None) -> float | None:
    if amz_date is None:
        return None
    try:
        return float(calendar.timegm(time.strptime(amz_date, _AMZ_DATE)))
    except ValueError:
        return None


def _check_time(signed: _Signature, signed_at: float, now: float, s3: bool) -> None:
    if not signed.presigned:
        if abs(now - signed_at) > MAX_SKEW_S:
            raise _skewed(s3, signed, signed_at, now)
        return
    expires = signed.expires or ""
    if not expires.isdigit():
        raise _malformed(s3, True, "X-Amz-Expires should be a number")
    if s3 and int(expires) > MAX_PRESIGNED_EXPIRES_S:
        raise _malformed(
            s3, True, "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        )
    if now > signed_at + int(expires):
        if s3:
            raise AwsError(
                "AccessDenied",
                "Request has expired",
                403,
                fields={
                    "X-Amz-Expires": expires,
                    "Expires": _format(signed_at + int(expires), _ISO8601),
                    "ServerTime": _format(now, _ISO8601),
                },
            )
        raise AwsError(
            "InvalidSignatureException", _expired_message(signed, now, int(expires)), 403
        )
    if signed_at - now > MAX_SKEW_S:
        raise _skewed(s3, signed, signed_at, now)


def _skewed(s3: bool, signed: _Signature, signed_at: float, now: float) -> AwsError:
    if s3:
        return AwsError(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            403,
            fields={
                "RequestTime": signed.amz_date,
                "ServerTime": _format(now, _ISO8601),
                "MaxAllowedSkewMilliseconds": str(MAX_SKEW_S * 1000),
            },
        )
    if signed_at < now:
        return AwsError("InvalidSignatureException", _expired_message(signed, now, MAX_SKEW_S), 403)
    message = (
        f"Signature not yet current: {signed.amz_date} is still later than "
        f"{_format(now + MAX_SKEW_S)} ({_format(now)} + {MAX_SKEW_S // 60} min.)"
    )
    return AwsError("InvalidSignatureException", message, 403)


def _expired_message(signed: _Signature, now: float, window_s: int) -> str:
    window = f"{window_s // 60} min." if window_s % 60 == 0 else f"{window_s} sec."
    return (
        f"Signature expired: {signed.amz_date} is now earlier than "
        f"{_format(now - window_s)} ({_format(now)} - {window})"
    )


def _malformed(s3: bool, signed_by_query: bool, detail: str = "") -> AwsError:
    if s3 and signed_by_query:
        return AwsError(
            "AuthorizationQueryParametersError",
            detail
            or "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters.",
            400,
        )
    if s3:
        return AwsError(
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; {detail or 'it could not be parsed.'}",
            400,
        )
    return AwsError("IncompleteSignatureException", detail or "Incomplete signature.", 403)


def _canonical_request(request: HttpRequest, signed: _Signature, s3: bool) -> str:
    header_lines = [
        f"{name}:{' '.join(request.headers.get(name, '').split())}"
        for name in signed.signed_headers.split(";")
    ]
    return "\n".join(
        (
            request.method.upper(),
            _canonical_uri(request.path, s3),
            _canonical_query(request.query, signed.presigned),
            "\n".join(header_lines) + "\n",
            signed.signed_headers,
            _payload_hash(request, signed.presigned, s3),
        )
    )


def _canonical_uri(raw_path: str, s3: bool) -> str:
    if s3:
        return raw_path or "/"
    # botocore's RFC 3986 dot-segment removal, which also drops empty segments.
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    trailing = "/" if segments and raw_path.endswith("/") else ""
    # Encoding the already-encoded path again is what botocore signs (`%20` -> `%2520`).
    return quote("/" + "/".join(segments) + trailing, safe="/~")


def _canonical_query(raw_query: str, presigned: bool) -> str:
    if not raw_query:
        return ""
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        key, _, value = item.partition("=")
        if presigned and key == "X-Amz-Signature":
            continue
        pairs.append((_uri_encode(key), _uri_encode(value)))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _uri_encode(raw: str) -> str:
    # Decoding to bytes first keeps any encoding the client chose from being encoded twice.
    return quote(unquote_to_bytes(raw), safe="-_.~")


def _payload_hash(request: HttpRequest, presigned: bool, s3: bool) -> str:
    declared = request.headers.get("x-amz-content-sha256")
    if declared:
        return declared
    # Only botocore's S3 presigner swaps in UNSIGNED-PAYLOAD; other presigners hash the body.
    if presigned and s3:
        return UNSIGNED_PAYLOAD
    return hashlib.sha256(request.body).hexdigest()


def _check_declared_payload(request: HttpRequest, s3: bool) -> None:
    declared = request.headers.get("x-amz-content-sha256", "")
    # The signature covers the declared hash, not the body, so the body must match it too.
    # A streamed body is checked by whoever reads the stream.
    if request.body_stream is not None or not _HEX_SHA256.fullmatch(declared):
        return
    actual = hashlib.sha256(request.body).hexdigest()
    if actual == declared.lower():
        return
    if s3:
        raise AwsError(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            400,
            fields={"ClientComputedContentSHA256": declared, "S3ComputedContentSHA256": actual},
        )
    raise AwsError("InvalidSignatureException", _JSON_MISMATCH, 403)


@lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    # Cached because the chain is four HMACs per request and changes only daily.
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _format(epoch: float, pattern: str = _AMZ_DATE) -> str:
    return time.strftime(pattern, time.gmtime(epoch))
