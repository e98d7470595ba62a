"""Engines and schema migrations for the history database (SQLite or PostgreSQL).

The Alembic configuration is built in code from the migrations shipped in this package,
so no ``alembic.ini`` is needed at run time. Migrations record their revision in their
own table, :data:`VERSION_TABLE`, so they can share a database with the host
application's own Alembic history.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from regiq_tasks.config import Settings
from regiq_tasks.errors import ConfigurationError, HistoryNotFound
from regiq_tasks.jsoncodec import dumps_finite, loads

MIGRATIONS_DIR = Path(__file__).with_name("migrations")  # env.py, script.py.mako, versions/
VERSION_TABLE = "regiq_alembic_version"  # our Alembic version table, apart from the host's
SQLITE_BUSY_TIMEOUT_MS = 30_000  # ms a SQLite writer waits for a lock before failing
MIGRATION_LOCK_KEY = 0x7265676971  # PostgreSQL advisory lock key serialising our migrations
DRIVER_PACKAGES = {"MySQLdb": "mysqlclient", "pymysql": "PyMySQL", "psycopg": "psycopg",
                   "psycopg2": "psycopg2-binary"}  # driver module -> what to pip install
CREATE_HINT = "a worker or `regiq db upgrade` creates it"  # said when a reader finds none


def dialect_insert(table: Table, dialect_name: str, what: str) -> Any:
    """An ``INSERT`` on ``table`` with ``ON CONFLICT`` support for this dialect (SQLite or
    PostgreSQL); ConfigurationError naming ``what`` for any other database."""
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    raise ConfigurationError(
        f"{what}: unsupported dialect {dialect_name!r} (sqlite or postgresql)")


def database_url(url: str) -> str:
    """The SQLAlchemy URL for ``url``: plain ``postgresql://`` uses the psycopg 3 driver."""
    return Settings(database_url=url).sqlalchemy_url


def make_engine(url: str) -> Engine:
    """An engine for the history database, tuned for SQLite files or PostgreSQL; the
    folder of a SQLite file is created (the database itself on first connection)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return _create_engine(parsed, pool_pre_ping=True)
    path = parsed.database
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return _sqlite_engine(parsed)


def open_existing(url: str) -> Engine:
    """An engine on a history database that already holds our schema; never creates a
    database, a file or a folder (readers: the CLI, the monitor, the Python API).

    Raises HistoryNotFound when the database or its schema is missing, ConfigurationError
    when the URL or its driver is unusable, SQLAlchemyError when it is unreachable.
    """
    parsed = parse_url(url)
    engine = _connect_existing(parsed)
    try:
        if schema_revision(engine) is None:
            raise HistoryNotFound(f"{_shown(parsed)} has no regiq schema; {CREATE_HINT}")
    except BaseException:
        engine.dispose()
        raise
    return engine


def check_url(url: str) -> None:
    """ConfigurationError unless ``url`` names a database SQLAlchemy knows and whose driver
    is installed; nothing is connected to or created."""
    _create_engine(parse_url(url)).dispose()


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL of a history database URL; ConfigurationError if unparsable."""
    try:
        return make_url(database_url(url))
    except ArgumentError as exc:
        raise ConfigurationError(f"REGIQ_DATABASE_URL: {exc}") from None


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _create_engine(url: URL, **options: Any) -> Engine:
    """``create_engine`` with a missing dialect or driver told as a ConfigurationError.
    JSON columns go through orjson, and hold strict JSON on every database (a number that
    is not finite as null, as PostgreSQL's json must)."""
    try:
        return create_engine(url, json_serializer=dumps_finite, json_deserializer=loads,
                             **options)
    except NoSuchModuleError:
        raise ConfigurationError(f"REGIQ_DATABASE_URL: {url.drivername}:// is not a database "
                                 "SQLAlchemy knows (sqlite:// or postgresql:// are "
                                 "supported)") from None
    except ModuleNotFoundError as exc:
        package = DRIVER_PACKAGES.get(str(exc.name), exc.name)
        raise ConfigurationError(f"REGIQ_DATABASE_URL: {url.drivername}:// needs the Python "
                                 f"driver {exc.name!r}, which is not installed (pip install "
                                 f"{package})") from None


def _connect_existing(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(_existing_sqlite(url))
    return _create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: URL) -> Engine:
    engine = _create_engine(url)
    event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _existing_sqlite(url: URL) -> URL:
    """A SQLite URL that opens the file read-write and never creates it."""
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return url  # in-memory or already a URI: as given
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise HistoryNotFound(f"{_shown(url)} does not exist (no file {file}); {CREATE_HINT}")
    return url.set(database=f"file:{quote(str(file))}",
                   query={**url.query, "mode": "rw", "uri": "true"})


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
    """The history schema revision at ``url`` (None for a database never migrated, or
    none at all: asking creates nothing)."""
    try:
        engine = _connect_existing(parse_url(url))
    except HistoryNotFound:
        return None
    try:
        return schema_revision(engine)
    finally:
        engine.dispose()


def schema_revision(engine: Engine) -> str | None:
    """The revision of the history schema the engine's database holds (None: none)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


@functools.cache
def head_revision() -> str:
    """The newest migration shipped with this package (read once: it ships with the code)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
