"""Engines and schema migrations for the history database (SQLite or PostgreSQL).

The Alembic configuration is built in code from the migrations shipped in this package,
so no ``alembic.ini`` is needed at run time. Migrations record their revision in their
own table, :data:`VERSION_TABLE`, so they can share a database with the host
application's own Alembic history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from ..config import Settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")  # env.py, script.py.mako, versions/
VERSION_TABLE = "regiq_alembic_version"  # our Alembic version table, apart from the host's
SQLITE_BUSY_TIMEOUT_MS = 30_000  # ms a SQLite writer waits for a lock before failing
MIGRATION_LOCK_KEY = 0x7265676971  # PostgreSQL advisory lock key serialising our migrations


def database_url(url: str) -> str:
    """The SQLAlchemy URL for ``url``: plain ``postgresql://`` uses the psycopg 3 driver."""
    return Settings(database_url=url).sqlalchemy_url


def make_engine(url: str) -> Engine:
    """An engine for the history database, tuned for SQLite files or PostgreSQL."""
    parsed = make_url(database_url(url))
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    path = parsed.database
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed)
    event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    """Use WAL, a 30 s busy timeout and synchronous=NORMAL on every SQLite connection."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def lock_for_migration(connection: Connection) -> None:
    """Serialise concurrent migrations: take the lock inside the open transaction."""
    name = connection.dialect.name
    if name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": MIGRATION_LOCK_KEY})
    elif name == "sqlite":
        # pysqlite opens no transaction before DDL; take the write lock now so that the
        # version check and the DDL run in one transaction, after any other migrator.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Config:
    """An Alembic ``Config`` for the packaged migrations against ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    # ConfigParser interpolates '%': escape it (URL-encoded passwords contain it).
    config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    config.attributes["url"] = database_url(url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the history schema at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Take the history schema at ``url`` down to ``revision``."""
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The history schema revision at ``url`` (None for a database never migrated)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection,
                                                 opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest migration shipped with this package."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
