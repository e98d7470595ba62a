"""Alembic environment of the regiq-tasks history tables (configured in code by db.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from regiq_tasks.history.db import VERSION_TABLE, lock_for_migration, make_engine
from regiq_tasks.history.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    """The database URL: given in code by ``alembic_config`` or in an ini file."""
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("regiq history migrations: no database URL configured")
    return str(url)


def _configure(connection: Connection) -> None:
    """Point the Alembic context at ``connection`` with our metadata and version table."""
    context.configure(connection=connection, target_metadata=target_metadata,
                      version_table=VERSION_TABLE, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")


def run_migrations_offline() -> None:
    """Emit the migration SQL as a script instead of running it."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      version_table=VERSION_TABLE, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations in one locked transaction (or on a connection given in code)."""
    given = config.attributes.get("connection")
    if given is not None:
        _configure(given)
        context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection, connection.begin():
            lock_for_migration(connection)
            _configure(connection)
            context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
