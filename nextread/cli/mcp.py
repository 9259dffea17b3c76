"""``nextread mcp`` (registered on the main app in ``nextread/cli.py``): the MCP tools on stdio.

The MCP SDK and the tools load inside the command, so that ``nextread --help`` does not pay for them."""

from __future__ import annotations

import anyio
import typer
from sqlalchemy import select

from nextread.config import get_settings
from nextread.services.access import operator_principal
from nextread.store.models import Tenant
from nextread.store.tenants import ROLES


def mcp_command(
    tenant: str | None = typer.Option(
        None, help="Tenant slug the tools act for (default: NEXTREAD_DEFAULT_TENANT)."
    ),
    role: str = typer.Option("read", help="`read`: every tool but enrich_book_metadata; `admin`: all tools."),
) -> None:
    """Serve the MCP tools on stdin/stdout for a local AI assistant (Claude Desktop, an IDE, an agent).
    Whoever can start this process can read the database anyway, so the tenant and role are options."""
    from nextread.mcp.backend import Backend
    from nextread.mcp.server import create_mcp_server

    if role not in ROLES:
        raise typer.BadParameter(f"must be one of {', '.join(ROLES)}, got {role!r}", param_hint="--role")
    settings = get_settings()
    backend = Backend.standalone(settings)
    slug = tenant or settings.store.default_tenant
    with backend.session() as session:
        found = session.scalar(select(Tenant).where(Tenant.slug == slug))
        if found is None:
            raise typer.BadParameter(f"no tenant {slug!r} in this database", param_hint="--tenant")
        principal = operator_principal(found.id, slug, role)
    anyio.run(create_mcp_server(backend, principal).run_stdio_async)
