"""Overview: counts, activity per day, top books, active students, the serving model, runtime health."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import Response
from nicegui import ui

from nextread.services import dashboard
from nextread.services.access import READ, Principal
from nextread.ui import health, tables, widgets
from nextread.ui.auth import guard
from nextread.ui.context import settings
from nextread.ui.layout import connected, frame, load, unavailable


@ui.page("/overview")
async def overview_page() -> Response | None:
    identity = guard(READ)
    if not isinstance(identity, Principal):
        return identity
    frame(identity, "Overview")
    await connected()
    with widgets.loading("Counting this school's books, students and activity…"):
        info = await load(dashboard.overview, identity)
    if info is None:
        return None
    if not any(info.counts.values()):
        widgets.empty_state(
            "This school has no books, students or classes yet.",
            [("Import the catalog, then students, classes and checkouts", "/import")],
        )
        return None
    with ui.row().classes("w-full flex-wrap gap-4"):
        for name, count in info.counts.items():
            _stat(name.capitalize(), f"{count:,}")
        _stat("Active students (30 days)", f"{info.active_students:,}")
    with ui.element("div").classes("w-full grid gap-4 grid-cols-1 lg:grid-cols-3 items-start"):
        with ui.card().classes("w-full lg:col-span-2"):
            _activity(info.per_day)
        with ui.card().classes("w-full"):
            window = "this month" if info.top_window_days else "all time"
            ui.label(f"Top books ({window})").classes("font-semibold")
            for row in info.top_books:
                with ui.row().classes("gap-x-2 gap-y-0 items-baseline"):
                    ui.link(row["title"], f"/catalog/{quote(row['id'], safe='')}").classes(
                        "min-h-[24px] text-indigo-800"
                    )
                    ui.label(f"{row['readers']} readers").classes("text-gray-700 text-sm")
    with ui.row().classes("w-full flex-wrap gap-4 items-start"):
        _model_card(info.model, info.training)
        await _health_cards(identity)
    return None


def _activity(per_day: list[tuple[str, int]]) -> None:
    ui.label("Interactions per day").classes("font-semibold")
    if not per_day:
        ui.label("No interactions yet: import checkouts, or students start using their page.")
        return
    total = sum(n for _, n in per_day)
    busiest, most = max(per_day, key=lambda day: day[1])
    ui.label(
        f"{total:,} in the {len(per_day)} days with activity up to {per_day[-1][0]}; "
        f"busiest {busiest} ({most:,})"
    ).classes("text-sm text-gray-700")
    tables.chart(
        {
            "xAxis": {"type": "category", "data": [day for day, _ in per_day]},
            "yAxis": {"type": "value"},
            "tooltip": {"trigger": "axis"},
            "series": [{"type": "bar", "data": [n for _, n in per_day], "name": "interactions"}],
        },
        "h-72",
    )
    tables.chart_numbers("Interactions per day", ("Day", "Interactions"), per_day)


def _stat(label: str, value: str) -> None:
    with ui.card().classes("min-w-[140px]"):
        ui.label(value).classes("text-3xl font-bold text-indigo-700")
        ui.label(label).classes("text-gray-700")


def _model_card(model: dict | None, training: dict | None) -> None:
    with ui.card().classes("min-w-[280px]"):
        ui.label("Model").classes("font-semibold")
        if training is not None:
            ui.label(training_text(training)).mark("training")
        if model is None:
            ui.label(
                "No model trained yet: recommendations use reading level and popularity, and search "
                "full text only, until the first training (started by the first request) finishes."
            )
            return
        ui.label(f"Version {model['version']} · {model['params'].get('cf_model', '')}")
        trained = f"{model['created_at']:%Y-%m-%d %H:%M}"
        ui.label(f"{model['n_users']} readers × {model['n_items']} books, trained {trained}")
        metrics = {k: v for k, v in (model["metrics"] or {}).items() if isinstance(v, int | float)}
        if metrics:
            for name, value in sorted(metrics.items()):
                ui.label(f"{name}: {value:.4g}").classes("text-sm")
        else:
            ui.label("No offline metrics recorded for this version (run `nextread evaluate`).").classes(
                "text-sm"
            )


def training_text(training: dict) -> str:
    """One line about a training in progress or failed (a row of ``GET /v1/models``)."""
    if training["status"] == "failed":
        return f"Training version {training['version']} failed: {training['error']}"
    progress = training.get("progress") or {}
    stage = STAGES.get(progress.get("stage", ""), "starting")
    if progress.get("stage") == "embed" and progress.get("total"):
        stage += f" ({progress['done']:,} of {progress['total']:,} new or changed books)"
    return f"Training version {training['version']}: {stage}…"


STAGES = {
    "load": "reading the catalog and the interactions",
    "fit": "learning from the interactions",
    "embed": "embedding book descriptions",
    "register": "saving the model",
}


async def _health_cards(identity: Principal) -> None:
    lag = await health.event_lag(settings())
    hit_rate = health.cache_hit_rate(identity.tenant_id)
    with ui.card().classes("min-w-[240px]"):
        ui.label("Event lag").classes("font-semibold")
        if lag.available:
            ui.label(lag.text)
        else:
            unavailable("Event lag", lag.text)
    with ui.card().classes("min-w-[240px]"):
        ui.label("Cache hit rate (this school)").classes("font-semibold")
        if hit_rate.available:
            ui.label(hit_rate.text)
        else:
            unavailable("Cache hit rate", hit_rate.text)
