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
_MISMATCH = "The request signature we calculated does not match the signature you provided. "
_JSON_MISMATCH = (
    f"{_MISMATCH}Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_MALFORMED_HEADER = (
    "the authorization header requires three components: Credential, SignedHeaders, and Signature."
)
_MALFORMED_QUERY = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)
_INCOMPLETE = "Authorization requires 'Credential', 'SignedHeaders' and 'Signature' parameters."

# Per failure: the code S3 answers, then the code the JSON/query services answer.
_CODES: dict[str, tuple[str, str]] = {
    "missing": ("AccessDenied", "MissingAuthenticationTokenException"),
    "malformed": ("AuthorizationHeaderMalformed", "IncompleteSignatureException"),
    "malformed_query": ("AuthorizationQueryParametersError", "IncompleteSignatureException"),
    "unknown_key": ("InvalidAccessKeyId", "UnrecognizedClientException"),
    "mismatch": ("SignatureDoesNotMatch", "InvalidSignatureException"),
    "skewed": ("RequestTimeTooSkewed", "InvalidSignatureException"),
    "expired": ("AccessDenied", "InvalidSignatureException"),
    "payload": ("XAmzContentSHA256Mismatch", "InvalidSignatureException"),
}
_BAD_REQUEST = {
    "AuthorizationHeaderMalformed",
    "AuthorizationQueryParametersError",
    "XAmzContentSHA256Mismatch",
}
_MESSAGES = {
    "AccessDenied": "Access Denied",
    "MissingAuthenticationTokenException": "Missing Authentication Token",
    "InvalidAccessKeyId": "The AWS Access Key Id you provided does not exist in our records.",
    "UnrecognizedClientException": "The security token included in the request is invalid.",
    "SignatureDoesNotMatch": f"{_MISMATCH}Check your key and signing method.",
    "InvalidSignatureException": _JSON_MISMATCH,
    "RequestTimeTooSkewed": (
        "The difference between the request time and the current time is too large."
    ),
    "XAmzContentSHA256Mismatch": (
        "The provided 'x-amz-content-sha256' header does not match what was computed."
    ),
}


@dataclass(frozen=True)
class Credential:
    """The credential scope of a signature: who signed, for which day, region and service."""

    access_key_id: str
    date: str
    region: str
    service: str


@dataclass(frozen=True)
class _Claim:
    """What a request says about its signature, from the Authorization header or the query."""

    credential: Credential
    signed_headers: str
    signature: str
    amz_date: str | None
    presigned: bool
    expires: str | None = None


def credential_scope(request: HttpRequest) -> Credential | None:
    """The credential scope the request was signed with; None when it carries none we can read."""
    claim = _parse(request)
    return claim.credential if claim else None


def verify(request: HttpRequest, keys: Mapping[str, str], now: float, *, s3: bool) -> str:
    """The access key id that validly signed `request`, or the `AwsError` AWS would answer.

    `keys` maps access key ids to secrets; `now` is the server's clock in epoch seconds; `s3`
    picks S3's error codes over those of the JSON/query services.
    """
    claim = _parse(request)
    if claim is None:
        if "authorization" in request.headers:
            raise _error("malformed", s3, _MALFORMED_HEADER if s3 else _INCOMPLETE)
        if "X-Amz-Credential" in request.query:
            raise _error("malformed_query", s3, _MALFORMED_QUERY if s3 else _INCOMPLETE)
        raise _error("missing", s3)
    cred = claim.credential
    secret = keys.get(cred.access_key_id)
    if secret is None:
        raise _error("unknown_key", s3, fields={"AWSAccessKeyId": cred.access_key_id})
    malformed = "malformed_query" if claim.presigned else "malformed"
    signed_at = _epoch(claim.amz_date)
    if claim.amz_date is None or signed_at is None:
        raise _error(malformed, s3, "AWS authentication requires a valid Date or x-amz-date header")
    if claim.amz_date[:8] != cred.date:
        raise _error(malformed, s3, "Invalid credential date. Date is not the same as X-Amz-Date.")
    _check_time(claim, signed_at, now, s3)

    canonical = _canonical_request(request, claim, s3)
    scope = f"{cred.date}/{cred.region}/{cred.service}/aws4_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{claim.amz_date}\n{scope}\n{digest}"
    key = _signing_key(secret, cred.date, cred.region, cred.service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    # Bytes, because compare_digest refuses non-ASCII str and the signature is client input.
    if not hmac.compare_digest(expected.encode(), claim.signature.encode()):
        details = {
            "AWSAccessKeyId": cred.access_key_id,
            "StringToSign": string_to_sign,
            "SignatureProvided": claim.signature,
            "CanonicalRequest": canonical,
        }
        raise _error("mismatch", s3, fields=details)
    _check_declared_payload(request, s3)
    return cred.access_key_id


def _error(
    kind: str, s3: bool, message: str = "", fields: dict[str, str] | None = None
) -> AwsError:
    code = _CODES[kind][0 if s3 else 1]
    status = 400 if code in _BAD_REQUEST else 403
    if code == "AuthorizationHeaderMalformed":
        message = f"The authorization header is malformed; {message}"
    # S3 puts diagnostics in its XML error body; the JSON services send only code and message.
    return AwsError(code, message or _MESSAGES[code], status, fields=fields if s3 else None)


def _parse(request: HttpRequest) -> _Claim | None:
    header = request.headers.get("authorization")
    if header is not None:
        return _from_header(header, request.headers)
    if "X-Amz-Credential" in request.query:
        return _from_query(request.query_dict())
    return None


def _from_header(value: str, headers: Mapping[str, str]) -> _Claim | None:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        return None
    fields = dict(item.strip().partition("=")[::2] for item in rest.split(","))
    cred = _parse_credential(fields.get("Credential", ""))
    if cred is None or not fields.get("SignedHeaders") or not fields.get("Signature"):
        return None
    # botocore signs with the Date header instead of X-Amz-Date when the caller set one.
    amz_date = headers.get("x-amz-date") or _amz_date_from_http_date(headers.get("date"))
    return _Claim(cred, fields["SignedHeaders"], fields["Signature"], amz_date, False)


def _from_query(params: Mapping[str, str]) -> _Claim | None:
    cred = _parse_credential(params.get("X-Amz-Credential", ""))
    signed_headers = params.get("X-Amz-SignedHeaders")
    signature = params.get("X-Amz-Signature")
    if params.get("X-Amz-Algorithm") != ALGORITHM or cred is None:
        return None
    if not signed_headers or not signature:
        return None
    amz_date = params.get("X-Amz-Date")
    return _Claim(cred, signed_headers, signature, amz_date, True, params.get("X-Amz-Expires"))


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
    try:
        return float(calendar.timegm(time.strptime(amz_date or "", _AMZ_DATE)))
    except ValueError:
        return None


def _check_time(claim: _Claim, signed_at: float, now: float, s3: bool) -> None:
    if claim.presigned:
        expires = claim.expires or ""
        if not expires.isdigit():
            raise _error("malformed_query", s3, "X-Amz-Expires should be a number")
        if s3 and int(expires) > MAX_PRESIGNED_EXPIRES_S:
            detail = "X-Amz-Expires must be less than a week (in seconds) that is 604800"
            raise _error("malformed_query", s3, detail)
        if now > signed_at + int(expires):
            fields = {
                "X-Amz-Expires": expires,
                "Expires": _format(signed_at + int(expires), _ISO8601),
                "ServerTime": _format(now, _ISO8601),
            }
            message = "Request has expired" if s3 else _expired_message(claim, now, int(expires))
            raise _error("expired", s3, message, fields)
        # A presigned URL may be used long after signing, but not long before.
        if signed_at - now <= MAX_SKEW_S:
            return
    elif abs(now - signed_at) <= MAX_SKEW_S:
        return
    fields = {
        "RequestTime": claim.amz_date or "",
        "ServerTime": _format(now, _ISO8601),
        "MaxAllowedSkewMilliseconds": str(MAX_SKEW_S * 1000),
    }
    if s3 or signed_at < now:
        raise _error("skewed", s3, "" if s3 else _expired_message(claim, now, MAX_SKEW_S), fields)
    message = (
        f"Signature not yet current: {claim.amz_date} is still later than "
        f"{_format(now + MAX_SKEW_S)} ({_format(now)} + {MAX_SKEW_S // 60} min.)"
    )
    raise _error("skewed", s3, message)


def _expired_message(claim: _Claim, now: float, window_s: int) -> str:
    window = f"{window_s // 60} min." if window_s % 60 == 0 else f"{window_s} sec."
    return (
        f"Signature expired: {claim.amz_date} is now earlier than "
        f"{_format(now - window_s)} ({_format(now)} - {window})"
    )


def _canonical_request(request: HttpRequest, claim: _Claim, s3: bool) -> str:
    headers = "".join(
        f"{name}:{' '.join(request.headers.get(name, '').split())}\n"
        for name in claim.signed_headers.split(";")
    )
    uri = _canonical_uri(request.path, s3)
    query = _canonical_query(request.query, claim.presigned)
    payload = _payload_hash(request, claim.presigned, s3)
    return f"{request.method.upper()}\n{uri}\n{query}\n{headers}\n{claim.signed_headers}\n{payload}"


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
        if not (presigned and key == "X-Amz-Signature"):
            pairs.append((_uri_encode(key), _uri_encode(value)))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _uri_encode(raw: str) -> str:
    # Decoding to bytes first means any equivalent encoding the client sent signs the same.
    return quote(unquote_to_bytes(raw), safe="-_.~")


def _payload_hash(request: HttpRequest, presigned: bool, s3: bool) -> str:
    declared = request.headers.get("x-amz-content-sha256")
    if declared:
        return declared
    # Only botocore's S3 presigner swaps in UNSIGNED-PAYLOAD; other presigners hash the body.
    if presigned and s3:
        return UNSIGNED_PAYLOAD
    if request.body_stream is not None and request.body_sha256:
        return request.body_sha256
    return hashlib.sha256(request.body).hexdigest()


def _check_declared_payload(request: HttpRequest, s3: bool) -> None:
    declared = request.headers.get("x-amz-content-sha256", "")
    # The signature covers the declared hash, not the body, so the body must match it too.
    # A spooled body was hashed by the gateway while it was received; a streamed one checks
    # itself at its end, before the handler stores anything.
    if not _HEX_SHA256.fullmatch(declared) or request.body_checked:
        return
    if request.body_stream is not None:
        actual = request.body_sha256 or ""
    else:
        actual = hashlib.sha256(request.body).hexdigest()
    if actual != declared.lower():
        raise payload_mismatch(declared, actual, s3)


def payload_mismatch(declared: str, actual: str, s3: bool) -> AwsError:
    """The error for a body whose SHA-256 is not the declared `x-amz-content-sha256`."""
    fields = {"ClientComputedContentSHA256": declared, "S3ComputedContentSHA256": actual}
    return _error("payload", s3, fields=fields)


@lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    # Cached because the chain costs four HMACs and changes only once a day per scope.
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _format(epoch: float, pattern: str = _AMZ_DATE) -> str:
    return time.strftime(pattern, time.gmtime(epoch))
