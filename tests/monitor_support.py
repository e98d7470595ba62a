"""Helpers of the monitor tests: a test client that speaks with a role's token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from regiq_tasks.monitor import create_app

TOKENS = {"viewer": "viewer-secret-0001", "operator": "operator-secret-0002",
          "admin": "admin-secret-000003"}  # at least 16 characters, as the monitor demands
TOKEN_CONFIG = ",".join(f"{role}:{secret}" for role, secret in TOKENS.items())


class Monitor:
    """A monitor app on a test Celery app, and requests made with a role's token."""

    def __init__(self, celery_app: Celery, **config: Any) -> None:
        self.app = create_app({"TESTING": True, "REGIQ_CELERY_APP": celery_app,
                               "REGIQ_API_TOKENS": TOKEN_CONFIG, **config})
        self.client: FlaskClient = self.app.test_client()

    @staticmethod
    def headers(role: str | None = "viewer", token: str | None = None) -> dict[str, str]:
        """The Authorization header of ``role`` (or of a given token; None: no header)."""
        secret = token if token is not None else TOKENS.get(role or "")
        return {"Authorization": f"Bearer {secret}"} if secret is not None else {}

    def get(self, path: str, role: str | None = "viewer", token: str | None = None,
            query: Mapping[str, Any] | None = None) -> TestResponse:
        return self.client.get(path, headers=self.headers(role, token), query_string=query)

    def put(self, path: str, body: Any = None, role: str | None = "operator",
            token: str | None = None, **kw: Any) -> TestResponse:
        return self.client.put(path, json=body, headers=self.headers(role, token), **kw)

    def json(self, path: str, expect: int = 200, **query: Any) -> Any:
        """GET ``path`` as a viewer, assert the status, return the body."""
        response = self.get(path, query=query)
        assert response.status_code == expect, response.get_data(as_text=True)
        return response.get_json()
