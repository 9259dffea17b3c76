"""``nextread import`` and ``nextread export`` (registered on the main app in ``nextread/cli.py``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from nextread.config import get_settings
from nextread.store.db import make_engine, make_session_factory, session_scope, upgrade
from nextread.store.tenants import ensure_tenant

if TYPE_CHECKING:
    from nextread.services.imports import ImportReport

# The readers, importer and exporter (pyarrow, the schemas) load inside each command, so that
# ``nextread --help`` does not pay for them.

SHOWN_ERRORS = 20


class Kind(StrEnum):
    items = "items"
    users = "users"
    groups = "groups"
    interactions = "interactions"


class Format(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"


class TextEncoding(StrEnum):
    utf8 = "utf-8"
    latin1 = "latin-1"
    auto = "auto"


def import_command(
    path: Annotated[
        Path,
        typer.Argument(help="CSV or TSV (separator detected), JSONL (.jsonl/.ndjson) or Parquet file."),
    ],
    kind: Annotated[
        Kind | None, typer.Option("--kind", help="What the file holds (default: the mapping's kind).")
    ] = None,
    mapping: Annotated[
        str, typer.Option("--mapping", help="Built-in mapping (default, goodbooks) or a JSON/TOML file.")
    ] = "default",
    format: Annotated[
        Format | None, typer.Option("--format", help="File format (default: from the extension).")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Tenant slug (default: NEXTREAD_DEFAULT_TENANT).")
    ] = None,
    errors: Annotated[
        Path | None, typer.Option("--errors", help="Write all errors (file,line,field,reason) to this CSV.")
    ] = None,
    rejected: Annotated[
        Path | None, typer.Option("--rejected", help="Write the rejected rows to this .csv/.jsonl.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Rows per transaction (default: setting).")
    ] = None,
    encoding: Annotated[
        TextEncoding,
        typer.Option(
            "--encoding", help="Text encoding; auto reads a file that is not UTF-8 as Latin-1 and says so."
        ),
    ] = TextEncoding.utf8,
) -> None:
    """Import a file; rejected rows are reported by line and the good rows still land. Safe to re-run."""
    from nextread.ingest.readers import FileError
    from nextread.services.imports import import_file

    settings = get_settings()
    resolved_kind = _kind(path, kind, mapping)
    engine = make_engine(settings.store.database_url)
    try:
        upgrade(engine)
        sessions = make_session_factory(engine)
        with session_scope(sessions) as session:
            tenant_id = ensure_tenant(session, tenant or settings.store.default_tenant).id
        report = import_file(
            sessions,
            tenant_id,
            path,
            resolved_kind,
            mapping,
            batch_size or settings.intake.import_batch_size,
            settings,
            fmt=format.value if format else None,
            errors_path=errors,
            rejected_path=rejected,
            encoding=encoding.value,
        )
    except FileError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    _print_report(report, errors)


def export_command(
    path: Annotated[Path, typer.Argument(help="Output file: .csv, .jsonl or .parquet.")],
    kind: Annotated[Kind, typer.Option("--kind", help="What to export.")],
    format: Annotated[
        Format | None, typer.Option("--format", help="File format (default: from the extension).")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Tenant slug (default: NEXTREAD_DEFAULT_TENANT).")
    ] = None,
) -> None:
    """Export in our own field names: the file imports back (``--mapping default``) to the same data."""
    from nextread.ingest.readers import FileError
    from nextread.services.exports import export

    settings = get_settings()
    engine = make_engine(settings.store.database_url)
    try:
        upgrade(engine)
        with session_scope(make_session_factory(engine)) as session:
            tenant_id = ensure_tenant(session, tenant or settings.store.default_tenant).id
            count = export(session, tenant_id, kind.value, path, format.value if format else None)
    except (FileError, OSError) as exc:
        _fail(f"{path}: {exc}" if isinstance(exc, OSError) else str(exc))
    finally:
        engine.dispose()
    typer.echo(f"exported {count} {kind.value} to {path}")


def _kind(path: Path, kind: Kind | None, mapping: str) -> str:
    """A mapping made for one kind (goodbooks, most mapping files) makes ``--kind`` optional."""
    from nextread.ingest.mapping import MappingError, load_mapping

    try:
        mapping_kind = load_mapping(mapping).kind
    except MappingError as exc:
        _fail(f"{path}: {exc}")
    if kind is None and mapping_kind is None:
        _fail(f"{path}: say what the file holds with --kind items|users|groups|interactions")
    return kind.value if kind is not None else str(mapping_kind)


def _print_report(report: ImportReport, errors_path: Path | None) -> None:
    if report.encoding_note:
        typer.echo(f"note: {report.encoding_note}", err=True)
    typer.echo(
        f"{report.file}: {report.read} rows read, {report.written} written, {report.unchanged} unchanged, "
        f"{report.rejected} rejected ({report.duration:.1f}s)"
    )
    if report.ignored_columns:
        typer.echo(f"ignored columns (not in the mapping): {', '.join(report.ignored_columns)}")
    if not report.rejected:
        return
    typer.echo(f"{report.rejected} row(s) rejected; the first errors:", err=True)
    for error in report.errors[:SHOWN_ERRORS]:
        typer.echo(f"  {error}", err=True)
    if errors_path is not None:
        typer.echo(f"all errors written to {errors_path}", err=True)
    elif len(report.errors) > SHOWN_ERRORS:
        typer.echo("pass --errors PATH to write all of them to a CSV file", err=True)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
