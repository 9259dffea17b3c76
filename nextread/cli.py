"""The ``nextread`` command line (also ``python -m nextread``)."""

from __future__ import annotations

import typer
import uvicorn

from nextread.config import get_settings
from nextread.store.db import make_engine, upgrade

app = typer.Typer(help="nextread: explainable, reading-level aware recommendations.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")

HostOption = typer.Option("127.0.0.1", help="Interface to listen on.")
PortOption = typer.Option(8000, help="Port to listen on.")


@app.command()
def serve(host: str = HostOption, port: int = PortOption, workers: int = typer.Option(1, min=1)) -> None:
    """Run the API server (migrates the database first)."""
    uvicorn.run("nextread.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Alembic revision to upgrade to.")) -> None:
    """Apply Alembic migrations to the configured database."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine, revision)
    typer.echo(f"database at {engine.url.render_as_string(hide_password=True)} is at revision {revision}")
