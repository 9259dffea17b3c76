"""The ``nextread`` command line (also ``python -m nextread``)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from nextread.cli.enrich import enrich_command
from nextread.cli.evaluate import evaluate_command
from nextread.cli.events import worker_command
from nextread.cli.ingest import export_command, import_command
from nextread.cli.jobs import jobs_app
from nextread.cli.levels import levels_app
from nextread.cli.mcp import mcp_command
from nextread.config import Settings, get_settings
from nextread.observability import configure_logging
from nextread.store.accounts import ACCOUNT_ROLES
from nextread.store.db import make_engine, make_session_factory, session_scope, upgrade
from nextread.store.models import ModelVersion, Tenant
from nextread.store.tenants import ROLES, create_api_key, ensure_tenant, register_api_key

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(help="nextread: explainable, reading-level aware recommendations.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
keys_app = typer.Typer(help="API key commands.", no_args_is_help=True)
accounts_app = typer.Typer(help="Dashboard account commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(accounts_app, name="accounts")
app.add_typer(jobs_app, name="jobs")
app.add_typer(levels_app, name="levels")
app.command("import", help="Bulk import CSV, JSONL or Parquet with a row-level error report.")(import_command)
app.command("export", help="Export a tenant's rows (re-importable).")(export_command)
app.command("worker", help="Apply interaction events and relay the outbox (graceful on SIGTERM).")(
    worker_command
)
app.command("evaluate", help="Offline evaluation of our models and peers (docs/evaluation.md).")(
    evaluate_command
)
app.command("enrich", help="Fill missing book metadata from Open Library (when enabled).")(enrich_command)
app.command("mcp", help="Serve the MCP tools on stdio for a local AI assistant.")(mcp_command)


def main() -> None:
    """The installed ``nextread`` command: a write the database refused (a failed commit among them)
    ends with one line saying nothing was stored and exit code 1, not a traceback that reads as a crash."""
    from sqlalchemy.exc import DBAPIError

    try:
        app(prog_name="nextread")
    except DBAPIError as exc:
        from nextread.store.db import database_failure

        typer.echo(f"error: {database_failure(exc).message}", err=True)
        raise SystemExit(1) from None


@app.callback()
def _configure() -> None:
    """nextread: explainable, reading-level aware recommendations."""
    settings = get_settings()
    configure_logging(settings.logging.log_format, settings.logging.log_level)


HostOption = typer.Option("127.0.0.1", help="Interface to listen on.")
PortOption = typer.Option(8000, help="Port to listen on.")
TenantOption = typer.Option(None, help="Tenant slug (default: NEXTREAD_DEFAULT_TENANT).")


def _serve(host: str, port: int, workers: int = 1) -> None:
    import uvicorn  # the server stack loads only for the commands that serve

    uvicorn.run(
        "nextread.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


@app.command()
def serve(host: str = HostOption, port: int = PortOption, workers: int = typer.Option(1, min=1)) -> None:
    """Run the API server (migrates the database first)."""
    if workers > 1 and get_settings().cache.cache_url.startswith("memory:"):
        typer.echo(
            "warning: the memory:// cache is per process: with --workers > 1 a user's new interaction "
            "refreshes only the process that took it (the others within NEXTREAD_CACHE_TTL_SECONDS); "
            "set NEXTREAD_CACHE_URL to redis://… or none://",
            err=True,
        )
    _serve(host, port, workers)


@app.command()
def demo(host: str = HostOption, port: int = PortOption) -> None:
    """Load the bundled demo school into the configured database when it is empty, then serve."""
    settings = get_settings()
    _counts, keys = prepare_demo(settings)
    base = f"http://{host}:{port}"
    typer.echo(f"==> starting the server on {base} (it loads the model; the links follow once it answers)")
    started = time.perf_counter()

    def announce() -> None:
        typer.echo(f"    ready in {time.perf_counter() - started:.1f} s")
        typer.echo(f"\nAPI docs:      {base}/docs")
        typer.echo(f"dashboard:     {base}/ui  (sign in with the admin key)")
        typer.echo(f"admin key:     {keys['admin']}")
        typer.echo(f"read-only key: {keys['read']}")
        typer.echo(f"try:  curl -H 'Authorization: Bearer {keys['read']}' {base}/v1/items?limit=3\n")

    _serve_then(host, port, announce)


def _serve_then(host: str, port: int, announce: Callable[[], None]) -> None:
    """One server process, and ``announce`` once it accepts connections (uvicorn at log level warning
    says nothing when it is ready)."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config("nextread.app:create_app", factory=True, host=host, port=port, log_level="warning")
    )

    def wait_until_started() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.1)
        if server.started:
            announce()

    threading.Thread(target=wait_until_started, name="announce-ready", daemon=True).start()
    server.run()


@contextmanager
def _step(label: str) -> Iterator[Callable[[str], None]]:
    """Say what starts now, then how long it took: the demo's first start takes minutes and must not
    look stuck. The step may add one line on what came of it."""
    typer.echo(f"==> {label}")
    started = time.perf_counter()
    yield lambda outcome: typer.echo(f"    {outcome}")
    typer.echo(f"    done in {time.perf_counter() - started:.1f} s")


def prepare_demo(settings: Settings) -> tuple[dict[str, int], dict[str, str]]:
    """Migrate, load the demo school if the tenant is empty, and make sure demo keys exist, printing
    each step as it goes.

    Keys come from the settings when given; otherwise they are generated once and kept in
    ``<data_dir>/demo-keys.json`` (mode 0600) so every later ``nextread demo`` prints the same ones.
    """
    from nextread.demo import demo_is_needed, load_demo
    from nextread.services.training import next_version, train_tenant

    engine = make_engine(settings.store.database_url)
    with _step(f"migrating the database {engine.url.render_as_string(hide_password=True)}"):
        upgrade(engine)
    sessions = make_session_factory(engine)
    with _step("loading the bundled demo school when the database is empty") as outcome:
        with session_scope(sessions) as session:
            tenant = ensure_tenant(session, settings.store.default_tenant)
            counts = load_demo(session, tenant.id) if demo_is_needed(session, tenant.id) else {}
            keys = _demo_keys(settings, session, tenant)
            tenant_id, untrained = tenant.id, next_version(session, tenant.id) == 1
        outcome(
            "loaded " + ", ".join(f"{n} {kind}" for kind, n in counts.items())
            if counts
            else "the database already holds data; the demo school was not loaded again"
        )
    if untrained:
        with _step(
            "training the first model: collaborative filtering and an embedding of every book "
            "(a minute or more)"
        ) as outcome:
            outcome(_version_summary(train_tenant(sessions, tenant_id, settings)))
    engine.dispose()
    return counts, keys


def _version_summary(version: ModelVersion) -> str:
    seconds = version.params.get("seconds", {})
    return (
        f"trained version {version.version}: {version.n_users} users × {version.n_items} items, "
        f"{version.n_interactions} cells in {version.training_seconds:.1f}s (reading {seconds.get('load')}s, "
        f"{version.params.get('cf_model')} {seconds.get('cf')}s, embeddings {seconds.get('embeddings')}s "
        f"for {version.params.get('items_re_embedded', 0)} new or changed items)"
    )


def _demo_keys(settings: Settings, session: Session, tenant: Tenant) -> dict[str, str]:
    key_file = settings.store.data_dir / "demo-keys.json"
    keys = json.loads(key_file.read_text()) if key_file.exists() else {}
    keys["admin"] = (
        settings.accounts.admin_api_key
        or keys.get("admin")
        or create_api_key(session, tenant, "admin", "demo")
    )
    keys["read"] = (
        settings.accounts.read_api_key or keys.get("read") or create_api_key(session, tenant, "read", "demo")
    )
    for role in ROLES:
        register_api_key(session, tenant, keys[role], role, f"demo {role} key")
    settings.store.data_dir.mkdir(parents=True, exist_ok=True)
    key_file.write_text(json.dumps(keys, indent=2))
    os.chmod(key_file, 0o600)
    return keys


@app.command()
def train(tenant: str | None = TenantOption) -> None:
    """Train a new model version for a tenant and register it (API processes pick it up by themselves)."""
    from nextread.services.precompute import train_then_precompute

    settings = get_settings()
    engine = make_engine(settings.store.database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        tenant_id = ensure_tenant(session, tenant or settings.store.default_tenant).id
    version, precomputed = train_then_precompute(sessions, settings, tenant_id)
    typer.echo(_version_summary(version))
    if precomputed is not None:
        typer.echo(
            f"precomputed {precomputed.written} readers' lists for version {precomputed.model_version} "
            f"({precomputed.already_cached} already cached) into the shared cache"
        )


@app.command()
def precompute(
    tenant: str | None = TenantOption,
    shard: str = typer.Option("0/1", help="`K/N`: this process takes readers whose id % N == K."),
) -> None:
    """Write every reader's default recommendation list into the shared cache (after `train`), so
    requests for it are cache reads; a reader's new interaction still refreshes theirs at once."""
    from nextread.services.precompute import precompute_tenant

    settings = get_settings()
    if not settings.cache.cache_is_shared:
        raise typer.BadParameter(
            f"NEXTREAD_CACHE_URL is {settings.cache.cache_url!r}: precomputed lists must go to a cache "
            "the API processes share; set it to redis://host:6379/0",
            param_hint="NEXTREAD_CACHE_URL",
        )
    index, _, count = shard.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise typer.BadParameter(f"{shard!r}: expected K/N with 0 <= K < N, e.g. 0/2", param_hint="--shard")
    engine = make_engine(settings.store.database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        tenant_id = ensure_tenant(session, tenant or settings.store.default_tenant).id
    report = precompute_tenant(
        sessions, settings, tenant_id, (int(index), int(count)), lambda done, of: typer.echo(f"{done}/{of}")
    )
    typer.echo(
        f"model version {report.model_version}: {report.written} lists written, "
        f"{report.already_cached} already cached, {report.readers} readers"
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("heads", help="Alembic revision to upgrade to (default: every head)."),
) -> None:
    """Apply Alembic migrations to the configured database, then retire model versions stored as
    pickles by older releases (:func:`nextread.services.training.retire_pickled_models`: they are
    never read, since reading a pickle runs code; their tenants are trained again)."""
    from nextread.services.training import retire_pickled_models

    engine = make_engine(get_settings().store.database_url)
    upgrade(engine, revision)
    typer.echo(f"database at {engine.url.render_as_string(hide_password=True)} is at revision {revision}")
    for row in retire_pickled_models(make_session_factory(engine)):
        typer.echo(
            f"retired model version {row.version} of tenant {row.tenant_id} ({row.path}): an old pickle is "
            "never loaded; the tenant is trained again on its next request or by `nextread train`"
        )


@keys_app.command("create")
def keys_create(
    role: str = typer.Option("read", help=f"One of {', '.join(ROLES)}."),
    name: str = typer.Option("cli", help="A label to recognise the key by."),
    tenant: str | None = TenantOption,
) -> None:
    """Create an API key bound to one tenant (created if new) and print it once."""
    if role not in ROLES:
        raise typer.BadParameter(f"must be one of {', '.join(ROLES)}", param_hint="--role")
    settings = get_settings()
    engine = make_engine(settings.store.database_url)
    upgrade(engine)
    with session_scope(make_session_factory(engine)) as session:
        key = create_api_key(
            session, ensure_tenant(session, tenant or settings.store.default_tenant), role, name
        )
    typer.echo(key)


@accounts_app.command("create")
def accounts_create(
    username: str = typer.Argument(..., help="The name the person signs in with."),
    role: str = typer.Option("librarian", help=f"One of {', '.join(ACCOUNT_ROLES)}."),
    classes: str = typer.Option("", help="Teacher accounts: the class ids they teach, comma-separated."),
    student: str | None = typer.Option(None, help="Student accounts: the student's id."),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True, envvar="NEXTREAD_ACCOUNT_PASSWORD"
    ),
    tenant: str | None = TenantOption,
) -> None:
    """Create a dashboard account (the password is asked for, never echoed); a teacher sees and acts for
    the classes given with ``--classes`` only."""
    from nextread.store.accounts import AccountError, create_account

    settings = get_settings()
    engine = make_engine(settings.store.database_url)
    upgrade(engine)
    taught = [name.strip() for name in classes.split(",") if name.strip()]
    try:
        with session_scope(make_session_factory(engine)) as session:
            school = ensure_tenant(session, tenant or settings.store.default_tenant)
            create_account(session, school.id, username, password, role, student, taught)
    except AccountError as exc:
        field, _, why = str(exc).partition(": ")
        raise typer.BadParameter(why, param_hint=f"--{field.replace('_', '-')}") from None
    typer.echo(f"account {username} ({role}) created" + (f", teaching {', '.join(taught)}" if taught else ""))
