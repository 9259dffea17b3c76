"""``nextread evaluate``: the offline protocol on any interactions file (or, later, our store)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from nextread.evaluate.data import InteractionData

# The data readers, models and runner (scipy, implicit, the embedder) load inside the functions, so
# that ``nextread --help`` does not pay for them.


def run_evaluation(
    dataset: InteractionData,
    seeds: int = 3,
    budget: int = 12,
    models: Sequence[str] | None = None,
    time_split: bool = True,
    out: Path | None = None,
) -> dict[str, Any]:
    """Everything after loading, so the CLI file path and the store path share one implementation."""
    from nextread.evaluate.models import DEFAULT_MODEL, select
    from nextread.evaluate.runner import evaluate, format_markdown, to_json

    factories, grids = select(dataset, models)
    results = evaluate(dataset, factories, grids, range(seeds), budget, time_split, progress=progress_line)
    results["default_model"] = DEFAULT_MODEL
    markdown = format_markdown(results)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.md").write_text(markdown)
        (out / "results.json").write_text(to_json(results))
    typer.echo(markdown)
    return results


def progress_line(line: str) -> None:
    typer.echo(line, err=True)


def model_names(values: list[str] | None) -> list[str] | None:
    """``--models a --models b`` and ``--models a,b`` both work; names may contain spaces."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def evaluate_command(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="Interactions: CSV, TSV, Parquet, JSONL, RecBole .inter or MovieLens .dat."
        ),
    ] = None,
    items: Annotated[
        Path | None,
        typer.Option(
            "--items",
            help="Items file: titles, genres/tags, years, ratings, levels (see docs/evaluation.md).",
        ),
    ] = None,
    users: Annotated[
        Path | None,
        typer.Option(
            "--users",
            help="Users file: stated interests and reading level (lexile, guided_reading_level, grade), "
            "which our model reads as serving does.",
        ),
    ] = None,
    user_column: Annotated[str | None, typer.Option(help="User column (default: auto-detect).")] = None,
    item_column: Annotated[str | None, typer.Option(help="Item column (default: auto-detect).")] = None,
    rating_column: Annotated[str | None, typer.Option(help="Rating/value column.")] = None,
    timestamp_column: Annotated[str | None, typer.Option(help="Timestamp column.")] = None,
    type_column: Annotated[str | None, typer.Option(help="Interaction type column.")] = None,
    threshold: Annotated[float, typer.Option(help="Ratings at or above this count as positive.")] = 4.0,
    positive_types: Annotated[
        str | None,
        typer.Option(help="With a type column: comma-separated types that count as positive."),
    ] = None,
    min_positives: Annotated[int, typer.Option(help="Drop users with fewer positives.")] = 5,
    seeds: Annotated[int, typer.Option(help="Number of seeds (splits) to average over.")] = 3,
    budget: Annotated[int, typer.Option(help="Configurations tried per model on validation users.")] = 12,
    models: Annotated[
        list[str] | None, typer.Option("--models", help="Models to compare (default: all).")
    ] = None,
    time_split: Annotated[bool, typer.Option(help="Also run the global time-cutoff split.")] = True,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for results.md and results.json.")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option(help="Without --data: evaluate this tenant's stored interactions.")
    ] = None,
) -> None:
    """Compare our default model with popularity, implicit item-kNN and tuned implicit iALS."""
    from nextread.evaluate.data import DEFAULT_POSITIVE_TYPES, Columns, DataError, load_interactions

    if data is None:
        dataset = _store_dataset(tenant, threshold, min_positives)
    else:
        columns = Columns(user_column, item_column, rating_column, timestamp_column, type_column)
        try:
            kinds = DEFAULT_POSITIVE_TYPES if positive_types is None else _type_list(positive_types)
            dataset = load_interactions(
                data,
                columns,
                threshold,
                kinds,
                min_user_positives=min_positives,
                items_path=items,
                users_path=users,
            )
        except DataError as error:
            raise typer.BadParameter(str(error), param_hint="--data / --items / --users") from error
        for note in dataset.read_notes:
            typer.echo(f"note: {note}", err=True)
    try:
        run_evaluation(dataset, seeds, budget, model_names(models), time_split, out)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


def _type_list(text: str) -> frozenset[str]:
    kinds = frozenset(kind.strip() for kind in text.split(",") if kind.strip())
    if not kinds:
        raise typer.BadParameter("name at least one type, e.g. purchase,like", param_hint="--positive-types")
    return kinds


def _store_dataset(tenant: str | None, threshold: float, min_positives: int) -> InteractionData:
    from nextread.config import get_settings
    from nextread.evaluate.data import DataError
    from nextread.evaluate.store import load_store_dataset

    settings = get_settings()
    try:
        return load_store_dataset(settings, tenant or settings.store.default_tenant, threshold, min_positives)
    except DataError as error:
        raise typer.BadParameter(str(error), param_hint="--tenant / --data") from error
