"""API tokens of the monitor: roles, the ``api_tokens`` table and its repository.

A token is 32 random bytes (``secrets.token_urlsafe``) shown once when created; the
table keeps only its SHA-256. A fast unsalted hash is enough here because the secret is
high-entropy and random, not a password: there is no dictionary to try and brute force
of 256 bits is out of reach, so a slow KDF (bcrypt, scrypt) would only add latency to
every request. Lookup is by hash, then the hashes are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, Index, Integer, String, Table, select, update
from sqlalchemy.orm import Mapped, mapped_column

from regiq_tasks.errors import InvalidParameter
from regiq_tasks.history.models import NAME_LENGTH, Base, UTCDateTime

TOKEN_BYTES = 32  # random bytes in a created token (256 bits)
TOKEN_PREFIX = "rq_"  # marks regiq tokens in logs and secret scanners
HASH_LENGTH = 64  # hex digits of a SHA-256
ROLE_LENGTH = 16


class Role(StrEnum):
    """A token's role; each role includes the rights of the roles before it."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def granted(self) -> list[str]:
        """This role and every lower one (what ``viewer < operator < admin`` grants)."""
        order = list(Role)
        return [r.value for r in order[: order.index(self) + 1]]


class ApiToken(Base):
    """A token created with ``regiq token create``: its name, role and SHA-256."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_token_hash", "token_hash", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    role: Mapped[str] = mapped_column(String(ROLE_LENGTH), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Principal:
    """Who a request's token belongs to: a name (recorded as ``requested_by``) and a role."""

    name: str
    role: Role


def hash_token(token: str) -> str:
    """The SHA-256 hex digest of a token (the only form kept at rest)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    """A fresh random token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def _role(value: Any) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidParameter("role", f"{value!r} is not one of {allowed}") from None


API_TOKENS: Table = Base.metadata.tables[ApiToken.__tablename__]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def _public(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "role": row["role"],
            "created_at": _iso(row["created_at"]), "revoked_at": _iso(row["revoked_at"])}


def create_token(engine: Engine, name: str, role: str) -> tuple[dict[str, Any], str]:
    """Store a new token; returns its public record and the token (shown only now)."""
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_LENGTH:
        raise InvalidParameter("name", f"expected a non-empty string of at most {NAME_LENGTH} "
                                       f"characters, got {name!r}")
    token = new_token()
    row: dict[str, Any] = {"name": name, "role": _role(role).value,
                           "token_hash": hash_token(token), "created_at": datetime.now(UTC),
                           "revoked_at": None}
    with engine.begin() as connection:
        key = connection.execute(API_TOKENS.insert().values(**row)).inserted_primary_key
    assert key is not None
    row["id"] = key[0]
    return _public(row), token


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    """Every stored token (never the secret), oldest first, revoked ones included."""
    with engine.connect() as connection:
        rows = connection.execute(select(API_TOKENS).order_by(API_TOKENS.c.id)).all()
    return [_public(row._mapping) for row in rows]


def revoke_token(engine: Engine, token_id: int) -> bool:
    """Revoke a token by id; False if there is no such active token."""
    with engine.begin() as connection:
        result = connection.execute(
            update(API_TOKENS)
            .where(API_TOKENS.c.id == token_id, API_TOKENS.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC)))
    return bool(result.rowcount)


def change_role(engine: Engine, token_id: int, role: str) -> bool:
    """Give an active token another role; False if there is no such active token.

    Open live connections of the token follow within seconds (see ``monitor.live``).
    """
    new_role = _role(role).value
    with engine.begin() as connection:
        result = connection.execute(
            update(API_TOKENS)
            .where(API_TOKENS.c.id == token_id, API_TOKENS.c.revoked_at.is_(None))
            .values(role=new_role))
    return bool(result.rowcount)


def find_tokens(engine: Engine, digests: Collection[str]) -> dict[str, Principal]:
    """The active stored tokens among these SHA-256 digests, by digest, in one query."""
    if not digests:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(
            select(API_TOKENS.c.name, API_TOKENS.c.role, API_TOKENS.c.token_hash)
            .where(API_TOKENS.c.token_hash.in_(sorted(digests)),
                   API_TOKENS.c.revoked_at.is_(None))).all()
    return {row.token_hash: Principal(row.name, Role(row.role)) for row in rows}


def find_token(engine: Engine, token: str) -> Principal | None:
    """The active stored token ``token`` names, or None."""
    digest = hash_token(token)
    with engine.connect() as connection:
        row = connection.execute(
            select(API_TOKENS.c.name, API_TOKENS.c.role, API_TOKENS.c.token_hash)
            .where(API_TOKENS.c.token_hash == digest, API_TOKENS.c.revoked_at.is_(None))).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return Principal(row.name, Role(row.role))
