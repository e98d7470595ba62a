"""What the monitor's views need from the plugin: the Celery app, tokens and limits."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from regiq_tasks.errors import ConfigurationError, reachable
from regiq_tasks.history.db import check_url
from regiq_tasks.history.tokens import Principal, Role, find_token, find_tokens, hash_token
from regiq_tasks.install import load_app
from regiq_tasks.tracking.tracker import Tracker, get_tracker

EXTENSION = "regiq_monitor"
MAX_TOKEN_LENGTH = 512  # longer Authorization values are refused without a lookup
MIN_TOKEN_LENGTH = 16  # characters of a REGIQ_API_TOKENS secret (shorter ones are guessable)


def parse_tokens(spec: str) -> list[tuple[str, Role]]:
    """``role:SECRET,role:OTHER`` as (SHA-256 of the secret, role) pairs.

    A ConfigurationError names the bad entry by its position and role, never its secret.
    """
    pairs: list[tuple[str, Role]] = []
    for number, item in enumerate(filter(None, (p.strip() for p in spec.split(","))), 1):
        role, sep, secret = item.partition(":")
        if not sep or not secret or role not in Role.__members__.values():
            raise ConfigurationError(
                "REGIQ_API_TOKENS: expected role:SECRET[,role:SECRET...] with a role of "
                f"{', '.join(r.value for r in Role)}; got an entry for {role!r}")
        if not MIN_TOKEN_LENGTH <= len(secret) <= MAX_TOKEN_LENGTH:
            raise ConfigurationError(
                f"REGIQ_API_TOKENS: the {role} token (entry {number}) has {len(secret)} "
                f"characters; a token needs {MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} "
                "(e.g. `openssl rand -hex 24`)")
        pairs.append((hash_token(secret), Role(role)))
    return pairs


@dataclass
class MonitorContext:
    """Per-app state of the monitor, kept in ``app.extensions``."""

    celery_app: Any
    config_tokens: list[tuple[str, Role]] = field(default_factory=list)
    max_body_bytes: int = 65536

    @property
    def tracker(self) -> Tracker:
        """The Celery app's tracker in this process."""
        return get_tracker(self.celery_app)

    def authenticate(self, token: str) -> Principal | None:
        """The principal a bearer token stands for, or None; constant-time comparisons."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        configured = self._configured(hash_token(token))
        if configured is not None:
            return configured
        with reachable("authenticate"):
            return find_token(self.tracker.existing_engine, token)

    def principals(self, digests: Iterable[str]) -> dict[str, Principal]:
        """Who each token (by SHA-256) stands for now; revoked and unknown ones are absent.

        One query for all the stored tokens: the live side re-checks its open
        connections with it every few seconds.
        """
        found: dict[str, Principal] = {}
        for digest in set(digests):
            configured = self._configured(digest)
            if configured is not None:
                found[digest] = configured
        with reachable("principals"):
            stored = find_tokens(self.tracker.existing_engine, set(digests) - set(found))
        return {**stored, **found}

    def _configured(self, digest: str) -> Principal | None:
        found: Role | None = None
        for known, role in self.config_tokens:  # no early exit: same work for every token
            if hmac.compare_digest(known, digest) and found is None:
                found = role
        # REGIQ_API_TOKENS tokens are named by role
        return Principal(found.value, found) if found is not None else None


def build_context(config: Mapping[str, Any]) -> MonitorContext:
    """The monitor context from the Flask config, falling back on the plugin's settings."""
    celery_app = load_app(config.get("REGIQ_CELERY_APP"))  # an app, or named as celery -A
    settings = get_tracker(celery_app).settings
    check_url(settings.sqlalchemy_url)  # a missing driver fails here; nothing is created
    tokens = config.get("REGIQ_API_TOKENS", settings.api_tokens)
    max_body = config.get("REGIQ_MAX_BODY_BYTES", settings.max_body_bytes)
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
        raise ConfigurationError(f"REGIQ_MAX_BODY_BYTES: expected an integer >= 1, "
                                 f"got {max_body!r}")
    return MonitorContext(celery_app, parse_tokens(str(tokens or "")), max_body)


def current_context() -> MonitorContext:
    """The monitor context of the current Flask app."""
    context: MonitorContext = current_app.extensions[EXTENSION]
    return context
