"""AWS Signature Version 4, verified as AWS verifies it.

A request is signed in one of two ways, and ``SigV4Verifier.verify`` checks either,
as numbered steps (the order decides which error a bad request gets):

1. Find the signature: the ``Authorization`` header (``AWS4-HMAC-SHA256
   Credential=…, SignedHeaders=…, Signature=…``) or a presigned query string
   (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
   ``X-Amz-SignedHeaders``, ``X-Amz-Signature``, optional ``X-Amz-Expires``).
   Missing or garbled parts: ``IncompleteSignatureException``. ``host`` (or, on
   HTTP/2, ``:authority``, which the JS SDK v3 signs under that name) and the date
   header must be among the signed headers.
2. Look the access key up: unknown, or a session token (none is ever issued
   here): ``UnrecognizedClientException``.
3. Check the credential scope: its date must be the request's date, its region
   this server's, its service ``kinesis``, its terminator ``aws4_request``
   (``InvalidSignatureException``; a wrong region is issue 17's check).
4. Check the time: a header signature may be at most 5 minutes old or early (AWS's
   clock-skew limit); a presigned one is valid from 5 minutes before its date until
   ``X-Amz-Expires`` seconds after it (at most 7 days).
5. Rebuild the canonical request (method, URI, sorted query, signed headers,
   SHA-256 of the body) and the string to sign, derive the signing key (cached per
   key, day and region) and compare signatures in constant time. A mismatch answers
   AWS's message with the canonical request and string to sign the server computed,
   so a client author can see which part differs; nothing secret is in them.

The payload is always hashed from the body received. An ``x-amz-content-sha256``
header must equal that hash, so a body cannot be swapped under a signed header.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote

from shardline.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from shardline.server.auth.keys import AccessKey, KeyStore
from shardline.server.request import HttpRequest

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "kinesis"
TERMINATOR = "aws4_request"
#: AWS's clock-skew limit for signed requests.
MAX_SKEW = dt.timedelta(minutes=5)
#: The longest a presigned URL may stay valid (AWS: one week).
MAX_EXPIRES_S = 604_800
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_QUERY_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
)
_SIGNING_KEYS_CACHED = 256


@dataclass(frozen=True)
class Signature:
    """The parts of a SigV4 signature, wherever the request carried them."""

    access_key_id: str
    scope_date: str
    scope_region: str
    scope_service: str
    scope_terminator: str
    signed_headers: tuple[str, ...]
    signature: str
    #: The request time, from X-Amz-Date (or Date) as sent.
    amz_date: str
    when: dt.datetime
    #: Presigned URLs only: seconds of validity after ``when``.
    expires_s: int | None = None

    @property
    def presigned(self) -> bool:
        return self.expires_s is not None

    @property
    def scope(self) -> str:
        return "/".join(
            (self.scope_date, self.scope_region, self.scope_service, self.scope_terminator)
        )


class SigV4Verifier:
    """Verifies signatures for one server (its region and its keys)."""

    def __init__(self, keys: KeyStore, region: str) -> None:
        self.keys = keys
        self.region = region
        self._signing_keys: dict[tuple[str, str, str, str], bytes] = {}

    def verify(self, request: HttpRequest, now: dt.datetime | None = None) -> AccessKey:
        """Steps 1-5 of the module docstring: the signing key, or a Kinesis error."""
        now = now or dt.datetime.now(dt.UTC)
        signature = read_signature(request)
        key = self.keys.get(signature.access_key_id)
        if key is None or _security_token(request) is not None:
            raise UnrecognizedClientException(
                "The security token included in the request is invalid."
            )
        self._check_scope(signature)
        _check_time(signature, now)
        canonical = canonical_request(request, signature)
        to_sign = string_to_sign(signature, canonical)
        expected = hmac.new(self._signing_key(key, signature), to_sign.encode(), hashlib.sha256)
        given = signature.signature.encode("utf-8", "replace")
        if not hmac.compare_digest(expected.hexdigest().encode(), given):
            raise InvalidSignatureException(
                "The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method. Consult the "
                "service documentation for details.\n\nThe Canonical String for this request "
                f"should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n"
                f"'{to_sign}'\n"
            )
        return key

    def _check_scope(self, signature: Signature) -> None:
        if signature.scope_date != signature.amz_date[:8]:
            raise InvalidSignatureException(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{signature.scope_date}' != '{signature.amz_date[:8]}', from "
                f"'{signature.amz_date}'."
            )
        if signature.scope_region != self.region:
            raise InvalidSignatureException(
                f"Credential should be scoped to a valid region, not '{signature.scope_region}'. "
            )
        if signature.scope_service != SERVICE:
            raise InvalidSignatureException(
                f"Credential should be scoped to correct service: '{SERVICE}'. "
            )
        if signature.scope_terminator != TERMINATOR:
            raise InvalidSignatureException(
                f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
                f"not '{signature.scope_terminator}'. "
            )

    def _signing_key(self, key: AccessKey, signature: Signature) -> bytes:
        """HMAC chain secret → date → region → service → aws4_request, cached."""
        cache_key = (
            key.secret_access_key,
            signature.scope_date,
            signature.scope_region,
            signature.scope_service,
        )
        derived = self._signing_keys.get(cache_key)
        if derived is None:
            derived = ("AWS4" + key.secret_access_key).encode()
            for part in (*cache_key[1:], TERMINATOR):
                derived = hmac.new(derived, part.encode(), hashlib.sha256).digest()
            if len(self._signing_keys) >= _SIGNING_KEYS_CACHED:
                self._signing_keys.clear()
            self._signing_keys[cache_key] = derived
        return derived


def _security_token(request: HttpRequest) -> str | None:
    token = request.headers.get("X-Amz-Security-Token")
    if token is None:
        token = next((v for n, v in request.query if n == "X-Amz-Security-Token"), None)
    return token


def read_signature(request: HttpRequest) -> Signature:
    """Step 1: the signature's parts from the Authorization header or the query."""
    authorization = request.headers.get("Authorization")
    if authorization is not None and request.presigned:
        raise IncompleteSignatureException(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or "
            "the Authorization header should be specified"
        )
    if authorization is not None:
        signature = _from_header(request, authorization)
    elif request.presigned:
        signature = _from_query(request)
    else:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    if "host" not in signature.signed_headers and ":authority" not in signature.signed_headers:
        raise IncompleteSignatureException(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    return signature


def _from_header(request: HttpRequest, authorization: str) -> Signature:
    algorithm, _, rest = authorization.strip().partition(" ")
    params: dict[str, str] = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        name, equals, value = part.partition("=")
        if not equals:
            raise IncompleteSignatureException(
                f"'{part}' not a valid key=value pair (missing equal-sign) in Authorization "
                f"header: '{authorization}'."
            )
        params[name.strip()] = value.strip()
    date_header = "X-Amz-Date" if "X-Amz-Date" in request.headers else "Date"
    amz_date = request.headers.get(date_header)
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if name not in params
    ]
    if amz_date is None:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if missing:
        raise IncompleteSignatureException(" ".join(missing) + f" Authorization={authorization}")
    assert amz_date is not None
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}'")
    signed_headers = tuple(params["SignedHeaders"].split(";"))
    if date_header.lower() not in signed_headers:
        raise IncompleteSignatureException(
            f"'{date_header}' must be a 'SignedHeader' in the AWS Authorization."
        )
    when = _parse_date(amz_date, iso_only=date_header == "X-Amz-Date")
    iso = when.strftime(_AMZ_DATE) if date_header == "Date" else amz_date
    return _signature(params["Credential"], signed_headers, params["Signature"], iso, when, None)


def _from_query(request: HttpRequest) -> Signature:
    query = dict(request.query)
    missing = [f"'{name}'" for name in _QUERY_PARAMS if name not in query]
    if missing:
        raise IncompleteSignatureException(
            f"AWS query-string parameters must include {', '.join(missing)}. "
            "Re-examine the query-string parameters."
        )
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise IncompleteSignatureException(
            f"Unsupported AWS 'algorithm': '{query['X-Amz-Algorithm']}'"
        )
    expires_text = query.get("X-Amz-Expires", str(int(MAX_SKEW.total_seconds())))
    if not expires_text.isdigit():
        raise IncompleteSignatureException("X-Amz-Expires should be a number")
    expires = int(expires_text)
    if expires > MAX_EXPIRES_S:
        raise IncompleteSignatureException(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_S}"
        )
    amz_date = query["X-Amz-Date"]
    when = _parse_date(amz_date, iso_only=True)
    signed_headers = tuple(query["X-Amz-SignedHeaders"].split(";"))
    return _signature(
        query["X-Amz-Credential"], signed_headers, query["X-Amz-Signature"], amz_date, when, expires
    )


def _signature(
    credential: str,
    signed_headers: tuple[str, ...],
    signature: str,
    amz_date: str,
    when: dt.datetime,
    expires: int | None,
) -> Signature:
    parts = credential.split("/")
    if len(parts) != 5:
        raise IncompleteSignatureException(
            "Credential should have five slash-separated parts (access key id, date, region, "
            f"service, aws4_request), not '{credential}'."
        )
    key_id, date, region, service, terminator = parts
    return Signature(
        key_id,
        date,
        region,
        service,
        terminator,
        signed_headers,
        signature,
        amz_date,
        when,
        expires,
    )


def _parse_date(text: str, iso_only: bool) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, _AMZ_DATE).replace(tzinfo=dt.UTC)
    except ValueError:
        pass
    if not iso_only:
        try:
            return email.utils.parsedate_to_datetime(text).astimezone(dt.UTC)
        except (TypeError, ValueError):
            pass
    raise IncompleteSignatureException(
        f"Date must be in ISO-8601 'basic format'. Got '{text}'. See "
        "http://en.wikipedia.org/wiki/ISO_8601"
    )


def _check_time(signature: Signature, now: dt.datetime) -> None:
    """Step 4: AWS's 5-minute skew window, or a presigned URL's validity."""
    when, stamp = signature.when, signature.amz_date
    if when > now + MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature not yet current: {stamp} is still later than "
            f"{(now + MAX_SKEW).strftime(_AMZ_DATE)} ({now.strftime(_AMZ_DATE)} + 5 min.)"
        )
    if signature.expires_s is None:
        window, span = MAX_SKEW, "5 min."
    else:
        window, span = dt.timedelta(seconds=signature.expires_s), f"{signature.expires_s} sec."
    if when < now - window:
        raise InvalidSignatureException(
            f"Signature expired: {stamp} is now earlier than "
            f"{(now - window).strftime(_AMZ_DATE)} ({now.strftime(_AMZ_DATE)} - {span})"
        )


def canonical_request(request: HttpRequest, signature: Signature) -> str:
    """Step 5's canonical request, from the request as received."""
    payload = hashlib.sha256(request.body).hexdigest()
    declared = request.headers.get("X-Amz-Content-Sha256")
    if declared is not None and declared != payload:
        raise InvalidSignatureException(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    headers = "".join(
        f"{name}:{_header_value(request, name)}\n" for name in signature.signed_headers
    )
    return "\n".join(
        (
            request.method,
            _canonical_uri(request.path),
            _canonical_query(request, signature.presigned),
            headers,
            ";".join(signature.signed_headers),
            payload,
        )
    )


def string_to_sign(signature: Signature, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return "\n".join((ALGORITHM, signature.amz_date, signature.scope, digest))


def _header_value(request: HttpRequest, name: str) -> str:
    values = request.headers.getall(name, [])
    return ",".join(" ".join(value.split()) for value in values)


def _canonical_uri(path: str) -> str:
    """The path without dot segments, each character URI-encoded again (non-S3 rule)."""
    segments: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if segments:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    trailing = "/" if path.endswith("/") and segments and segments[-1] else ""
    return quote("/" + "/".join(segments) + trailing, safe="/~")


def _canonical_query(request: HttpRequest, presigned: bool) -> str:
    pairs = sorted(
        (quote(name, safe="-_.~"), quote(value, safe="-_.~"))
        for name, value in request.query
        if not (presigned and name == "X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in pairs)
