"""``nextread levels …`` (registered on the main app in ``nextread/cli.py``)."""

from __future__ import annotations

from typing import Annotated

import typer

from nextread.config import get_settings
from nextread.store.db import make_engine, make_session_factory, session_scope, upgrade
from nextread.store.tenants import ensure_tenant

levels_app = typer.Typer(help="Reading levels: estimates for books without a level.", no_args_is_help=True)


@levels_app.command("estimate")
def estimate_command(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Tenant slug (default: NEXTREAD_DEFAULT_TENANT).")
    ] = None,
) -> None:
    """Estimate a level for every book without a given one (training does this too); given levels are
    never touched. Prints how many books' estimates changed."""
    from nextread.services.level_estimates import (
        estimate_missing_levels,  # textstat, numpy: only when estimating
    )

    settings = get_settings()
    engine = make_engine(settings.store.database_url)
    upgrade(engine)
    with session_scope(make_session_factory(engine)) as session:
        tenant_id = ensure_tenant(session, tenant or settings.store.default_tenant).id
        changed = estimate_missing_levels(session, tenant_id)
    engine.dispose()
    typer.echo(f"estimated levels changed for {changed} book(s)")
