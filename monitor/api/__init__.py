"""The monitor's JSON API: one blueprint per resource, errors and auth in one place each."""

from __future__ import annotations

from apiflask import APIFlask
from flask import Response, request

from regiq_tasks.monitor.api import auth as _auth  # noqa: F401  (registers the token and role callbacks)
from regiq_tasks.monitor.api.alerts import bp as alerts_bp
from regiq_tasks.monitor.api.errors import register_error_handlers
from regiq_tasks.monitor.api.health import bp as health_bp
from regiq_tasks.monitor.api.jobs import bp as jobs_bp
from regiq_tasks.monitor.api.logs import bp as logs_bp
from regiq_tasks.monitor.api.meta import bp as meta_bp
from regiq_tasks.monitor.api.performance import bp as performance_bp
from regiq_tasks.monitor.api.pipelines import bp as pipelines_bp
from regiq_tasks.monitor.api.prometheus import bp as prometheus_bp
from regiq_tasks.monitor.api.schemas import ERROR_SCHEMA, merge_duplicate_components
from regiq_tasks.monitor.api.whoami import bp as whoami_bp
from regiq_tasks.monitor.api.workers import bp as workers_bp

BLUEPRINTS = (jobs_bp, logs_bp, pipelines_bp, performance_bp, workers_bp, health_bp, alerts_bp,
              whoami_bp, prometheus_bp, meta_bp)
# apiflask settings of the API: bad input is 400, every error has one documented shape.
API_CONFIG = {"VALIDATION_ERROR_STATUS_CODE": 400, "VALIDATION_ERROR_SCHEMA": ERROR_SCHEMA,
              "HTTP_ERROR_SCHEMA": ERROR_SCHEMA,
              "VALIDATION_ERROR_DESCRIPTION": "Invalid request (see details)"}


PAGE_BLUEPRINT = "page"  # the web page and its assets: cacheable, no data


def _no_store(response: Response) -> Response:
    """API answers (errors included) hold job data or secrets: never cache them."""
    if request.blueprint != PAGE_BLUEPRINT:
        response.headers["Cache-Control"] = "no-store"
    return response


def register_api(app: APIFlask) -> None:
    """Register the API blueprints, error handling and ``Cache-Control`` on ``app``."""
    register_error_handlers(app)
    app.after_request(_no_store)
    app.spec_processor(merge_duplicate_components)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
