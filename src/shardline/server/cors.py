"""CORS for browser-based clients (the JS SDK in a page, a web console).

A browser sends a *preflight* ``OPTIONS`` with ``Origin`` before any signed
cross-origin POST, and only sends the POST if the preflight allows it. AWS answers
the preflight itself, before authentication (a browser never signs a preflight):
200, an empty body, ``Access-Control-Allow-Origin: *``, ``Access-Control-Max-Age:
172800`` and the requested headers and method echoed back. Without that answer no
browser can call Kinesis at all.

The real request that follows is checked exactly like any other (signature
included); its response, success or error, carries ``Access-Control-Allow-Origin``
and ``Access-Control-Expose-Headers``, so the page may read the request id and the
error type. A request without ``Origin`` is not a CORS request and gets none of these
headers; an ``OPTIONS`` without ``Origin`` is not a preflight and is refused as AWS
refuses any non-POST (403).
"""

from __future__ import annotations

from collections.abc import Mapping

#: How long a browser may cache a preflight answer: two days, as AWS answers.
MAX_AGE_S = 172_800
#: The response headers a page may read, as AWS lists them.
EXPOSED_HEADERS = (
    "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date"
)


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    """Whether a request is a CORS preflight (``headers`` must be case-insensitive)."""
    return method == "OPTIONS" and "Origin" in headers


def preflight_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of the answer to a preflight: allow any origin, echo the request."""
    out = {"Access-Control-Allow-Origin": "*"}
    requested_headers = headers.get("Access-Control-Request-Headers")
    if requested_headers:
        out["Access-Control-Allow-Headers"] = requested_headers
    requested_method = headers.get("Access-Control-Request-Method")
    if requested_method:
        out["Access-Control-Allow-Methods"] = requested_method
    out["Access-Control-Max-Age"] = str(MAX_AGE_S)
    return out


def response_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """What the response to a real cross-origin request adds (nothing without Origin)."""
    if "Origin" not in headers:
        return {}
    return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED_HEADERS}
