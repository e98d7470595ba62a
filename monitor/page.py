"""The monitor's web page and its static assets: public, they hold no data until sign-in.

The page (``monitor/templates/index.html``) and its scripts (``monitor/static/``) call the
REST API with the token the user signs in with (kept in ``sessionStorage``) and follow
the jobs over Socket.IO. Every asset, the Socket.IO client included
(``static/vendor/``), is served from here; a Content-Security-Policy allows nothing
else (no inline script, no other origin), a second line of defence behind the page's
rule of showing job text only as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apiflask import APIBlueprint
from flask import Response, render_template, send_from_directory

STATIC_DIR = Path(__file__).with_name("static")
ASSET_MAX_AGE = 300  # s: browsers may cache an asset this long (URLs carry the version)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

bp = APIBlueprint("page", __name__, tag="Page", template_folder="templates")


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _html(description: str) -> Any:
    return {200: {"description": description,
                  "content": {"text/html": {"schema": {"type": "string"}}}}}


@bp.get("/")
@bp.doc(summary="The monitor web page", security=[],
        description="Public: the page holds no data until the user signs in with a token.",
        responses=_html("The page (HTML)"))
def index() -> Response:
    """The single-page monitor."""
    from regiq_tasks.monitor import _version

    return _secured(Response(render_template("index.html", version=_version()),
                             mimetype="text/html"))


_ASSET_RESPONSES: Any = {
    200: {"description": "The asset", "content": {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary"}}}},
    404: "No such asset"}


@bp.get("/static/<path:filename>")
@bp.doc(summary="A static asset of the page", security=[],
        description="Public: scripts, styles and the vendored Socket.IO client.",
        responses=_ASSET_RESPONSES)
def asset(filename: str) -> Response:
    """One file of ``monitor/static``."""
    return _secured(send_from_directory(STATIC_DIR, filename, max_age=ASSET_MAX_AGE))
