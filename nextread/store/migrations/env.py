"""Alembic environment: the engine comes from the caller (``nextread db upgrade`` or app start-up)."""

from alembic import context

from nextread.config import get_settings
from nextread.store.db import include_in_autogenerate, make_engine
from nextread.store.models import Base

engine = context.config.attributes.get("engine") or make_engine(get_settings().store.database_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_in_autogenerate,
    )
    with context.begin_transaction():
        context.run_migrations()
