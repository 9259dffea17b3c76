"""``nextread enrich`` (registered on the main app in ``nextread/cli.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from nextread.config import get_settings
from nextread.store.db import make_engine, make_session_factory, session_scope, upgrade
from nextread.store.tenants import ensure_tenant

if TYPE_CHECKING:
    from nextread.services.enrich import EnrichmentResult


def _report(result: EnrichmentResult) -> None:
    filled = ", ".join(sorted(result.filled)) or "nothing"
    errors = f" (failed: {'; '.join(result.errors)})" if result.errors else ""
    typer.echo(f"{result.item_id}: filled {filled}{errors}")


def enrich_command(
    limit: Annotated[int | None, typer.Option(min=1, help="Enrich at most this many books.")] = None,
    tenant: Annotated[
        str | None, typer.Option(help="Tenant slug (default: NEXTREAD_DEFAULT_TENANT).")
    ] = None,
) -> None:
    """Fill missing descriptions, subjects, page counts and covers from Open Library, for books that
    miss any of them (needs NEXTREAD_OPENLIBRARY_ENABLED=true; never overwrites a value)."""
    from nextread.services.enrich import EnrichmentDisabledError, enrich_tenant  # httpx: only when enriching

    settings = get_settings()
    engine = make_engine(settings.store.database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    try:
        with session_scope(sessions) as session:
            tenant_id = ensure_tenant(session, tenant or settings.store.default_tenant).id
        summary = enrich_tenant(sessions, tenant_id, settings, limit, _report)
    except EnrichmentDisabledError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    counts = ", ".join(f"{name} {n}" for name, n in sorted(summary.filled.items())) or "no field filled"
    failed = f"; lookups failed for {len(summary.failed)}" if summary.failed else ""
    typer.echo(f"enriched {summary.items} books: {counts}{failed} ({summary.requests} requests)")
