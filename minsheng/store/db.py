"""Engine, sessions and migrations for the ticket store (SQLite by default, PostgreSQL in production)."""
from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from minsheng.settings import Settings, settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Seconds a SQLite writer waits for the write lock before "database is locked"; writers serialize on it.
SQLITE_BUSY_TIMEOUT = 30
# PostgreSQL advisory lock key ("mins") taken around migrations: one process of a database migrates at a time
MIGRATION_LOCK_KEY = 0x6D696E73


def database_url(config: Settings | None = None) -> str:
    """MINSHENG_DB_URL, else a SQLite file in MINSHENG_DATA_DIR (default ./var), created if missing."""
    config = config or settings()
    if config.db_url:
        return normalize_url(config.db_url)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{config.data_dir / 'minsheng.db'}"


def normalize_url(url: str) -> str:
    """Plain postgresql:// (or postgres://) URLs would select psycopg2, which is not installed: use psycopg 3."""
    return re.sub(r"^postgres(?:ql)?://", "postgresql+psycopg://", url)


def make_engine(url: str | None = None) -> Engine:
    url = normalize_url(url or database_url())
    # hide_parameters: a database error's message leaves out the statement's values (citizens' text, contacts)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            hide_parameters=True,
            # sessions are handed between threads (FastAPI's threadpool), never used by two at once
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pre-ping replaces connections that died with a PostgreSQL restart instead of failing the next request
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite leaves foreign keys (and so ON DELETE CASCADE) off unless asked, per connection
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers proceed while one writer commits
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: objects stay readable after commit, e.g. to serialize them into a response
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """An alembic Config built in code: no alembic.ini. Also usable for command.revision(..., autogenerate=True),
    in which case migrations/env.py connects to database_url()."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def migrate(url_or_engine: str | Engine | None = None) -> None:
    """alembic upgrade head on the given database; a no-op when it is already at head. On PostgreSQL, replicas and
    workers starting together take turns (a transaction-level advisory lock; on SQLite the write lock): the first
    upgrades, the others then find the schema at head."""
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        cfg = alembic_config()
        # The connection goes through attributes rather than sqlalchemy.url: ini interpolation would mangle
        # the % escapes in URLs, and the caller's engine keeps its settings (pragmas, search_path).
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            elif connection.dialect.name == "sqlite":  # the write lock now: the driver's BEGIN waits for a write
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    finally:
        if engine is not url_or_engine:
            engine.dispose()
