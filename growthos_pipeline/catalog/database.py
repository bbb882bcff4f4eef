"""Opening the control-plane database and keeping its schema at the newest migration.

SQLite (the default, in the data folder) runs in WAL mode with ``synchronous=FULL`` and foreign
keys on; PostgreSQL is used when ``GROWTHOS_DATABASE_URL`` names it. Migrations run under a lock
(a file lock for SQLite, an advisory lock for PostgreSQL), so several server processes can start
at once.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from growthos_pipeline.settings import Settings

_MIGRATION_LOCK_ID = 0x67_6F_73_01  # "gos" + 1: PostgreSQL advisory lock key


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event emits BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("gos_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(files("growthos_pipeline.catalog") / "migrations")
    )
    return config


class Catalog:
    """The control-plane database: an SQLAlchemy engine plus the migration machinery.

    Examples
    --------
    >>> import tempfile
    >>> catalog = Catalog.open(Settings(data_dir=tempfile.mkdtemp()))
    >>> catalog.is_current()
    True
    >>> catalog.dispose()
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Catalog:
        url = make_url(settings.catalog_url)
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        catalog = cls(engine)
        if migrate:
            catalog.migrate()
        return catalog

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction that commits on success and rolls back on error."""
        with self.engine.connect() as conn:
            # On SQLite a writing transaction takes the write lock at BEGIN (IMMEDIATE), so a
            # read-then-write cannot fail half-way with "database is locked".
            conn.execution_options(gos_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def begin_erasure(self) -> Iterator[Connection]:
        """:meth:`begin`, for deleting personal data: on SQLite the bytes of deleted rows are
        overwritten (``secure_delete``) and, after the commit, the write-ahead log is
        checkpointed and truncated, so no copy stays in the catalog's files. (PostgreSQL
        reclaims deleted rows at its next vacuum.)"""
        sqlite = self.dialect == "sqlite"
        with self.begin() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            yield conn
        if sqlite:
            with self.connect() as conn:
                conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration (under a cross-process lock)."""
        with self._migration_lock() as conn:
            config = _alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(_alembic_config()).get_current_head()

    def is_current(self) -> bool:
        return self.current_revision() == self.head_revision()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        if self.dialect == "sqlite":
            database = self.engine.url.database
            lock_path = Path(f"{database}.migrate.lock") if database else None
            if lock_path is None or database == ":memory:":
                with self.engine.connect() as conn:
                    yield conn
                return
            with open(lock_path, "a+") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                try:
                    with self.engine.connect() as conn:
                        yield conn
                finally:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        else:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
                conn.commit()
                try:
                    yield conn
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_ID})
                    conn.commit()
