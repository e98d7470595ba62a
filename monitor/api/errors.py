"""Every error of the API as ``{"error": {"code", "message", "details"}}``, in one place."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from apiflask import APIFlask, HTTPError
from flask import Response, jsonify, request

from regiq_tasks.errors import (
    AlertAlreadyResolved,
    AlertNotFound,
    JobNotCancellable,
    JobNotFound,
    StoreUnavailable,
)
from regiq_tasks.external import JobFinished

from ..context import current_context

F = TypeVar("F", bound=Callable[..., Any])

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
         415: "unsupported_media_type", 500: "internal_error", 503: "unavailable"}
MESSAGES = {401: "a valid bearer token is required (Authorization: Bearer <token>)",
            403: "this token's role may not do this",
            404: "no such resource", 405: "method not allowed on this path"}


def error_body(status: int, message: str, details: Any = None,
               code: str | None = None) -> dict[str, Any]:
    """The JSON body of an error response."""
    return {"error": {"code": code or CODES.get(status, "error"), "message": message,
                      "details": details}}


def _process(error: HTTPError) -> tuple[dict[str, Any], int, Any]:
    """apiflask's error processor: HTTP, validation and auth errors in our shape."""
    status = error.status_code
    message = error.message
    if status in MESSAGES and message in (None, "", "Not Found", "Unauthorized", "Forbidden",
                                          "Method Not Allowed"):
        message = MESSAGES[status]
    details = error.detail or None
    code = (error.extra_data or {}).get("code")
    return error_body(status, str(message), details, code), status, error.headers


def _json(status: int, message: str, details: Any = None) -> Response:
    response = jsonify(error_body(status, message, details))
    response.status_code = status
    return response


def _unavailable(exc: StoreUnavailable) -> Response:
    parts = str(exc).split(": ")
    return _json(503, parts[1] if len(parts) > 1 else "a dependency is unavailable")


def _not_found(exc: JobNotFound) -> Response:
    return _json(404, str(exc), {"id": exc.job_id})


def _conflict(exc: JobNotCancellable | JobFinished) -> Response:
    return _json(409, str(exc), {"id": exc.job_id, "status": exc.status})


def _alert_not_found(exc: AlertNotFound) -> Response:
    return _json(404, str(exc), {"id": exc.alert_id})


def _alert_resolved(exc: AlertAlreadyResolved) -> Response:
    return _json(409, str(exc), {"id": exc.alert_id, "resolved_at": exc.resolved_at,
                                 "resolved_by": exc.resolved_by})


def register_error_handlers(app: APIFlask) -> None:
    """Route every error the API raises to one JSON shape and a fitting status."""
    app.error_processor(_process)
    app.register_error_handler(StoreUnavailable, _unavailable)
    app.register_error_handler(JobNotFound, _not_found)
    app.register_error_handler(JobNotCancellable, _conflict)
    app.register_error_handler(JobFinished, _conflict)
    app.register_error_handler(AlertNotFound, _alert_not_found)
    app.register_error_handler(AlertAlreadyResolved, _alert_resolved)


@contextmanager
def bad_input(*parameters: str) -> Iterator[None]:
    """Turn the Python API's ValueError naming one of ``parameters`` into a 400.

    Its message starts with the parameter's name; any other ValueError is a fault of
    ours and stays a 500 rather than blaming the client.
    """
    try:
        yield
    except ValueError as exc:
        name = str(exc).split(":", 1)[0]
        if name not in parameters:
            raise
        raise HTTPError(400, str(exc), detail={name: [str(exc)]}) from None


def limit_body(view: F) -> F:
    """Refuse a request body over ``REGIQ_MAX_BODY_BYTES`` with 413 (after auth)."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        limit = current_context().max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise HTTPError(413, f"request body over {limit} bytes",
                            detail={"max_body_bytes": limit})
        request.max_content_length = limit  # a chunked body is cut at the same size
        return view(*args, **kwargs)
    return wrapper  # type: ignore[return-value]
