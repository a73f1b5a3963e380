"""Every way a request can be refused, as `{"detail": "<readable message>"}` with a 4xx.

Routes never return a 500 for bad input: the `endpoint` decorator turns an `ApiError`, a brain
validation error, a pydantic validation error or a missing memory into its status, a backend
outage into 503, and only a genuine bug into 500 (logged, with no internals in the answer).
Handlers live on the routes, not on the application: langgraph-api runs this application as the
whole server, so application-wide exception handlers would also catch LangGraph's own routes.

Request bodies are read here: at most `MAX_BODY_BYTES` (413 beyond, checked on the declared
length and again while reading), the declared content type (415), valid UTF-8 JSON (400), and
exactly the fields of a pydantic model with `extra="forbid"` (422 for unknown or bad fields).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from langgraph_brain.errors import (
    BrainConfigurationError,
    MemoryBackendError,
    MemoryNotFoundError,
    MemoryValidationError,
)

from . import metrics

logger = logging.getLogger("langgraph_brain.api")

#: Largest request body accepted, in bytes (1 MiB). Split bigger imports into several requests.
MAX_BODY_BYTES = 1024 * 1024
JSON_TYPES = ("application/json",)
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "text/plain")

M = TypeVar("M", bound=BaseModel)
Endpoint = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    """A refusal with its HTTP status and a message for the caller.

    Attributes:
        status: the HTTP status (4xx, or 503 for an outage).
        detail: the readable message returned as `{"detail": ...}`.
        kind: the error kind counted in the metrics (`brain_http_errors_total{kind}`).
    """

    def __init__(self, status: int, detail: str, *, kind: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or _KINDS.get(status, "client_error")


_KINDS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation",
    503: "backend",
}


def error_response(status: int, detail: str, *, kind: str | None = None) -> JSONResponse:
    """The JSON answer for a refusal, counted by kind."""
    metrics.count_error(kind or _KINDS.get(status, "client_error"))
    return JSONResponse({"detail": detail}, status_code=status)


def describe_validation(exc: ValidationError, *, where: str = "body") -> str:
    """One readable line per pydantic error, e.g. "body.k: Input should be less than or equal to 100"."""
    parts = []
    for err in exc.errors(include_url=False)[:10]:
        loc = ".".join(str(p) for p in (where, *err["loc"]))
        msg = (
            "unknown field (not part of this request's schema)"
            if err["type"] == "extra_forbidden"
            else err["msg"]
        )
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def endpoint(fn: Endpoint) -> Endpoint:
    """Wrap a route so that every failure becomes `{"detail": ...}` with the right status."""

    @functools.wraps(fn)
    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiError as exc:
            return error_response(exc.status, exc.detail, kind=exc.kind)
        except ValidationError as exc:
            return error_response(422, describe_validation(exc))
        except MemoryValidationError as exc:
            return error_response(422, str(exc))
        except MemoryNotFoundError as exc:
            return error_response(404, str(exc))
        except MemoryBackendError as exc:
            return error_response(503, str(exc))
        except BrainConfigurationError as exc:
            logger.error("memory API: configuration error: %s", exc)
            return error_response(503, f"The memory service is misconfigured: {exc}", kind="configuration")
        except Exception:
            logger.exception("memory API: unexpected error on %s %s", request.method, request.url.path)
            return error_response(500, "Internal error; the server log has the details.", kind="internal")

    return wrapper


def require_content_type(request: Request, accepted: tuple[str, ...]) -> None:
    """415 unless the request's media type (parameters such as charset ignored) is accepted."""
    declared = request.headers.get("content-type", "")
    media = declared.split(";", 1)[0].strip().lower()
    if media not in accepted:
        shown = media or "none"
        raise ApiError(415, f"Content-Type {shown!r} is not accepted here; send {' or '.join(accepted)}.")


async def read_body(request: Request, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing (413) more than `limit` bytes without reading past the limit."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "Content-Length is not a number.") from None
        if size > limit:
            raise ApiError(413, f"The body is {size} bytes; the limit is {limit} bytes (1 MiB).")
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise ApiError(413, f"The body is larger than the limit of {limit} bytes (1 MiB).")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_text(body: bytes) -> str:
    """The body as text; 400 if it is not UTF-8."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"The body is not valid UTF-8 (byte {exc.start}).") from None


async def read_model(request: Request, model: type[M]) -> M:
    """Parse a JSON body into `model` (content type, size, syntax and fields checked)."""
    require_content_type(request, JSON_TYPES)
    text = decode_text(await read_body(request))
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    if not isinstance(data, dict):
        raise ApiError(422, f"The body must be a JSON object, not {type(data).__name__}.")
    return model.model_validate(data)


__all__ = [
    "JSONL_TYPES",
    "JSON_TYPES",
    "MAX_BODY_BYTES",
    "ApiError",
    "decode_text",
    "describe_validation",
    "endpoint",
    "error_response",
    "read_body",
    "read_model",
    "require_content_type",
]
