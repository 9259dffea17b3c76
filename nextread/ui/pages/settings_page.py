"""Settings (admins): the school's scoring weights, interaction-type weights, level scale and LLM
switch, saved in the database and used by the next request; dashboard accounts."""

from __future__ import annotations

import re
from typing import Any

from fastapi.responses import Response
from nicegui import run, ui
from sqlalchemy.orm import Session

from nextread.engine.hybrid import Weights
from nextread.levels import SCALES
from nextread.services import school_settings
from nextread.services.access import CONFIGURE, Principal
from nextread.services.answers import train_model
from nextread.services.errors import REFUSALS
from nextread.services.school_settings import save_school_settings
from nextread.store.accounts import ACCOUNT_ROLES
from nextread.ui.auth import guard
from nextread.ui.context import service
from nextread.ui.layout import frame, load

# Same rule as an interaction's ``type`` in the API.
TYPE_NAME = re.compile(r"[a-z_]{1,32}")


def save(
    session: Session, identity: Principal, values: dict[str, Any], types: dict[str, tuple[float, bool]]
) -> bool:
    save_school_settings(session, service(), identity, values, types)
    return True


def add_account(session: Session, identity: Principal, fields: dict[str, str]) -> str:
    return school_settings.add_account(
        session,
        identity,
        fields["username"],
        fields["password"],
        fields["role"],
        fields["student"] or None,
    )


def remove_account(session: Session, identity: Principal, username: str) -> str:
    return school_settings.remove_account(session, identity, username)


@ui.page("/settings")
async def settings_page() -> Response | None:
    identity = guard(CONFIGURE)
    if not isinstance(identity, Principal):
        return identity
    frame(identity, "Settings")
    loaded = await load(school_settings.school_settings, identity.tenant_id)
    if loaded is None:
        return None
    stored, types = loaded
    weights: dict[str, Any] = {}
    with ui.card().classes("w-full max-w-3xl"):
        ui.label("Scoring weights (how much each signal counts)").classes("font-semibold")
        with ui.grid(columns=3).classes("w-full gap-2"):
            for name, value in stored.weights.model_dump().items():
                weights[name] = ui.number(name, value=value, min=0, max=10, step=0.05).mark(f"setting-{name}")
        ui.button(
            "Reset to defaults",
            on_click=lambda: [
                w.set_value(v) for w, v in zip(weights.values(), Weights().model_dump().values(), strict=True)
            ],
        ).props("flat")
    type_rows: dict[str, tuple[Any, Any]] = {}
    with ui.card().classes("w-full max-w-3xl"):
        ui.label("Interaction-type weights (used at the next training)").classes("font-semibold")
        with ui.grid(columns="auto 8rem auto").classes("items-center gap-2") as grid:
            for type_, (weight, positive) in sorted(types.items()):
                _type_row(type_rows, type_, weight, positive)
        with ui.row().classes("items-end gap-2"):
            new_type = ui.input("Another type (e.g. dismiss)").mark("new-type")

            def add_type() -> None:
                name = (new_type.value or "").strip().lower()
                if not TYPE_NAME.fullmatch(name) or name in type_rows:
                    ui.notify("type: lower-case letters and _ (up to 32), not already listed", type="warning")
                    return
                with grid:
                    _type_row(type_rows, name, 0.0, False)
                new_type.set_value("")

            ui.button("Add type", icon="add", on_click=add_type).props("flat").mark("add-type")
    with ui.card().classes("w-full max-w-3xl"):
        scale = ui.select(
            {"": "server default", **{name: name for name in SCALES}},
            value=stored.level_scale or "",
            label="Reading-level scale shown to staff",
        ).classes("w-64")
        llm = ui.switch("Use the configured LLM for re-ranking and explanations", value=stored.llm_enabled)

    async def on_save() -> None:
        values = {
            "weights": {name: float(field.value or 0) for name, field in weights.items()},
            "level_scale": scale.value or None,
            "llm_enabled": llm.value,
        }
        chosen_types = {t: (float(w.value or 0), bool(p.value)) for t, (w, p) in type_rows.items()}
        if await load(save, identity, values, chosen_types):
            ui.notify("Saved: new recommendations use these settings now", type="positive")

    async def retrain() -> None:
        ui.notify("Training a new model version…")
        try:
            version = await run.io_bound(train_model, service(), identity)
        except REFUSALS as exc:
            ui.notify(str(exc), type="warning")
            return
        ui.notify(f"Model version {version.version} is ready", type="positive")

    with ui.row().classes("gap-2"):
        ui.button("Save settings", icon="save", on_click=on_save).props('data-testid="save-settings"').mark(
            "save-settings"
        )
        ui.button("Retrain now", icon="model_training", on_click=retrain).props("outline")
    await _accounts_section(identity)
    return None


def _type_row(rows: dict[str, tuple[Any, Any]], name: str, weight: float, positive: bool) -> None:
    ui.label(name)
    rows[name] = (
        ui.number(value=weight, step=0.5).props(f'aria-label="weight of {name}"').mark(f"type-{name}"),
        ui.checkbox("counts as liked", value=positive),
    )


async def _accounts_section(identity: Principal) -> None:
    with ui.card().classes("w-full max-w-3xl"):
        ui.label("Dashboard accounts").classes("font-semibold")
        table = ui.table(
            columns=[
                {"name": n, "label": n.capitalize(), "field": n, "align": "left"}
                for n in ("username", "role", "student", "status")
            ],
            rows=await load(school_settings.accounts, identity.tenant_id) or [],
        ).classes("w-full")
        with ui.row().classes("flex-wrap items-end gap-2"):
            username = ui.input("Username").mark("account-username")
            password = ui.input("Password (8+ characters)", password=True).mark("account-password")
            role = (
                ui.select(list(ACCOUNT_ROLES), value="librarian", label="Role")
                .classes("w-36")
                .mark("account-role")
            )
            student = ui.input("Student id (student accounts)").mark("account-student")

        async def create() -> None:
            fields = {"username": username.value, "password": password.value, "role": role.value}
            fields["student"] = student.value
            if await load(add_account, identity, fields):
                ui.notify(f"Account {username.value} created", type="positive")
                table.rows = await load(school_settings.accounts, identity.tenant_id) or []
                password.set_value("")

        async def disable() -> None:
            if await load(remove_account, identity, username.value or ""):
                ui.notify(f"Account {username.value} disabled", type="positive")
                table.rows = await load(school_settings.accounts, identity.tenant_id) or []

        with ui.row().classes("gap-2"):
            ui.button("Create account", icon="person_add", on_click=create).mark("create-account")
            ui.button("Disable account", icon="person_off", on_click=disable).props("outline").mark(
                "disable-account"
            )
