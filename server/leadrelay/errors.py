"""Why a request is refused, and the one shape of every error answer: `{"error": {"code", "message"}}`.

A refusal is raised where the request is found wanting and answered once, by the
endpoint's handler (leadrelay.collect.Collector, or Starlette's exception handlers),
or, for what the server itself refuses before the app sees the request (marked *),
by leadrelay.serving:

    Refused                      a request leadrelay will not take, answered with its status
    ├── BadRequest               400  invalid JSON, not UTF-8, not a batch, an empty batch, a bad Content-Length,
    │                                 a Host header that is not a host name or not in allowed_hosts;
    │                                 * a request that is not valid HTTP
    ├── Unauthorized             401  a server's dialect (dub, pimms) without a server key, or a key that is not one;
    │                                 a console request without a valid session
    ├── Forbidden                403  an Origin that is not allowed, a click-id request from another site,
    │                                 a console change from another origin or without its CSRF token
    ├── NotFound                 404  a vendor API call naming what this site does not have (a Reshape script id);
    │                                 a sandbox vendor that does not exist (leadrelay.sandbox.api); an event's
    │                                 status that is not the caller's own (leadrelay.event_status); a console
    │                                 page of an event, destination or rejection that does not exist
    ├── MethodNotAllowed         405  a vendor API path called with another method than POST (answered with `Allow`)
    ├── RequestTimeout           408  * a head or a body that did not all arrive in time
    ├── PayloadTooLarge          413  a body over max_body_bytes, a batch over max_batch_events;
    │                                 * a chunked body, with its trailers, far beyond max_body_bytes
    ├── UnsupportedMediaType     415  a Content-Type other than text/plain or application/json
    ├── TooManyRequests          429  over a rate limit (per client IP, per visitor): retry after Retry-After
    ├── HeadersTooLarge          431  * a head over max_header_bytes, or with more than max_headers headers
    ├── StoreUnavailable         503  the store could not commit: nothing was acknowledged (retry later)
    └── TooManyConnections       503  * over max_connections, with every other connection busy (retry later)

    ClientGone                   the client went away before its body arrived: there is no one to answer

Anything else raised while answering is a bug: logged with an error id, answered 500
with that id, and the service goes on.
"""

from __future__ import annotations

import logging
import uuid
from typing import Callable, ClassVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

log = logging.getLogger("leadrelay")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "rate_limited",
    503: "unavailable",
}


class Refused(Exception):
    """A request leadrelay will not take; `code` is the machine-readable reason, the message the human one."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, self.retry_after)


class BadRequest(Refused):
    status = 400
    default_code = "bad_request"


class Unauthorized(Refused):
    """Answered with `WWW-Authenticate: Bearer` (RFC 6750), plus `error="invalid_token"` when a key was sent but is not one."""

    status = 401
    default_code = "unauthorized"

    def __init__(self, message: str, code: str | None = None, invalid_token: bool = False) -> None:
        super().__init__(message, code)
        self.challenge = 'Bearer error="invalid_token"' if invalid_token else "Bearer"

    def response(self) -> JSONResponse:
        response = super().response()
        response.headers["WWW-Authenticate"] = self.challenge
        return response


class Forbidden(Refused):
    status = 403
    default_code = "forbidden"


class NotFound(Refused):
    status = 404
    default_code = "not_found"


class MethodNotAllowed(Refused):
    """Answered with `Allow`, the methods the path takes (RFC 9110, 15.5.6)."""

    status = 405
    default_code = "method_not_allowed"

    def __init__(self, message: str, allow: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allow = ", ".join(allow)

    def response(self) -> JSONResponse:
        response = super().response()
        response.headers["Allow"] = self.allow
        return response


class RequestTimeout(Refused):
    status = 408
    default_code = "request_timeout"


class PayloadTooLarge(Refused):
    status = 413
    default_code = "body_too_large"


class UnsupportedMediaType(Refused):
    status = 415
    default_code = "unsupported_media_type"


class TooManyRequests(Refused):
    status = 429
    default_code = "rate_limited"


class HeadersTooLarge(Refused):
    status = 431
    default_code = "headers_too_large"


class StoreUnavailable(Refused):
    status = 503
    default_code = "storage_unavailable"


class TooManyConnections(Refused):
    status = 503
    default_code = "too_many_connections"


class ClientGone(Exception):
    """The client disconnected before it had sent its whole body: there is no one to answer."""


Answer = Callable[[Scope, Refused], Response]
"""How a middleware answers a refusal: in leadrelay's shape (`own_shape`), or a vendor API's (leadrelay.vendor_api)."""


def own_shape(scope: Scope, refusal: Refused) -> Response:
    return refusal.response()


def error_response(status: int, code: str, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def bug_message(where: str) -> str:
    """Log the bug being handled (with its traceback) under a fresh error id; the message that names the id."""
    error_id = uuid.uuid4().hex[:12]
    log.exception("%s failed (error id %s)", where, error_id)
    return f"an internal error occurred (error id {error_id}); the request may be retried later"


def internal_error(where: str) -> JSONResponse:
    """The answer to a bug: logged under a fresh error id, which the answer names."""
    return error_response(500, "internal_error", bug_message(where))


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = error_response(exc.status_code, _CODES.get(exc.status_code, "error"), exc.detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return exc.response()


async def server_error(request: Request, exc: Exception) -> Response:
    return internal_error(f"{request.method} {request.url.path}")
