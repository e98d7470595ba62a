"""Every error of the API as ``{"error": {"code", "message", "details"}}``, in one place."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from apiflask import APIFlask, HTTPError
from flask import Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from regiq_tasks.errors import (
    AlertAlreadyResolved,
    AlertNotFound,
    InvalidParameter,
    JobNotCancellable,
    JobNotFound,
    JobNotRetryable,
    StoreUnavailable,
    WorkerNotFound,
)
from regiq_tasks.monitor.context import current_context
from regiq_tasks.tracking.external import JobFinished

F = TypeVar("F", bound=Callable[..., Any])

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
         415: "unsupported_media_type", 431: "request_header_fields_too_large",
         500: "internal_error", 503: "unavailable"}
MAX_JSON_DEPTH = 32  # nesting levels of a request body; no schema here goes past 3
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
    return _json(503, exc.summary)  # which dependency and why; never the cause's text


def _not_found(exc: JobNotFound) -> Response:
    return _json(404, str(exc), {"id": exc.job_id})


def _worker_not_found(exc: WorkerNotFound) -> Response:
    return _json(404, str(exc), {"name": exc.name})


def _conflict(exc: JobNotCancellable | JobNotRetryable | JobFinished) -> Response:
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
    app.register_error_handler(WorkerNotFound, _worker_not_found)
    app.register_error_handler(JobNotCancellable, _conflict)
    app.register_error_handler(JobFinished, _conflict)
    app.register_error_handler(JobNotRetryable, _conflict)
    app.register_error_handler(AlertNotFound, _alert_not_found)
    app.register_error_handler(AlertAlreadyResolved, _alert_resolved)


@contextmanager
def bad_input(*parameters: str) -> Iterator[None]:
    """Turn the Python API's :class:`InvalidParameter` naming one of ``parameters`` into
    a 400.

    One naming another parameter, or any other ValueError, is a fault of ours and stays
    a 500 rather than blaming the client.
    """
    try:
        yield
    except InvalidParameter as exc:
        if exc.parameter not in parameters:
            raise
        raise HTTPError(400, str(exc), detail={exc.parameter: [str(exc)]}) from None


def _too_large(limit: int) -> HTTPError:
    return HTTPError(413, f"request body over {limit} bytes", detail={"max_body_bytes": limit})


def _read_body(limit: int) -> bytes:
    """The request body, read at most ``limit + 1`` bytes far (a chunked one included).

    A stream without a length is cut one byte past the limit, so a body longer than
    the limit shows as one and the rest is never read.
    """
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise _too_large(limit) from None
    if len(data) > limit:
        raise _too_large(limit)
    return data


def limit_body(view: F) -> F:
    """Refuse a body over ``REGIQ_MAX_BODY_BYTES`` with 413, a hostile JSON body with 400.

    Runs after the token and role checks and before the schema: the body is read here
    (a chunked one is cut at the limit) and cached for the schema's parser.
    """
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_json(_read_body(current_context().max_body_bytes))
        return view(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def _check_json(data: bytes) -> None:
    """400 for a JSON body the schema's parser would choke on or no store could keep:
    not parseable by Python (a number past the 4,300-digit conversion limit is a
    ValueError, deep nesting a RecursionError), nested deeper than MAX_JSON_DEPTH, or
    holding a NUL or a lone surrogate."""
    if not (request.is_json and data):
        return
    try:
        problem = body_problem(json.loads(data))
    except (ValueError, RecursionError) as exc:
        problem = str(exc)[:200] or type(exc).__name__
    if problem:
        raise HTTPError(400, "invalid JSON body", detail={"json": [problem]})


def body_problem(body: Any) -> str | None:
    """What is wrong with a parsed body (too deep, unstorable text), or None.

    Walks the value with a stack of its own, so a deep body cannot exhaust Python's.
    """
    stack: list[tuple[Any, int]] = [(body, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"nested deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in [*value, *value.values()])
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                return problem
    return None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "a string holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
    return None
