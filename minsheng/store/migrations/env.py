"""Alembic environment. Run through minsheng.store.db.migrate(), which passes the connection in
config.attributes; with none given (e.g. command.revision(alembic_config(), autogenerate=True)) it connects
to database_url()."""
from alembic import context

from minsheng.store.db import database_url, make_engine
from minsheng.store.models import Base, UTCDateTime


def render_item(type_, obj, autogen_context):
    # Migrations must not import app code that may change later: write UTCDateTime as the column type it is.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: batch mode recreates the table instead
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = make_engine(database_url())
    try:
        with engine.begin() as connection:
            run(connection)
    finally:
        engine.dispose()
