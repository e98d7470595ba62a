"""The API about itself: the OpenAPI document (token needed) and liveness (public)."""

from __future__ import annotations

import warnings
from typing import Any

from apiflask import APIBlueprint
from flask import current_app

from regiq_tasks.monitor.api.auth import READ
from regiq_tasks.monitor.api.schemas import HealthOut
from regiq_tasks.monitor.extensions import auth

bp = APIBlueprint("meta", __name__, tag="Meta")


@bp.get("/openapi.json")
@bp.auth_required(auth, roles=READ)
@bp.doc(summary="This OpenAPI document",
        responses={200: "The OpenAPI 3 document of this API", 403: "Role too low"})
def openapi() -> Any:
    """The generated OpenAPI document."""
    with warnings.catch_warnings():  # apispec's note on the job schema merged above
        warnings.filterwarnings("ignore", message=".*has already been added to the spec")
        return current_app.spec  # type: ignore[attr-defined]


@bp.get("/healthz")
@bp.output(HealthOut)
@bp.doc(summary="Liveness", description="Public; says nothing about dependencies.")
def healthz() -> dict[str, str]:
    """200 while the process serves requests."""
    return {"status": "ok"}
