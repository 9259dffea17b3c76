"""Settings (admins): the school's scoring weights, interaction-type weights, level scale and LLM
switch, saved in the database and used by the next request; dashboard accounts."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import Response
from nicegui import run, ui
from sqlalchemy.orm import Session

from nextread.engine.hybrid import Weights
from nextread.levels import SCALES
from nextread.services import school_settings
from nextread.services.access import CONFIGURE, STUDENT, Principal
from nextread.services.answers import train_model
from nextread.services.errors import REFUSALS
from nextread.services.school_settings import save_school_settings
from nextread.store.accounts import ACCOUNT_ROLES, TEACHER
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


def add_account(session: Session, identity: Principal, fields: dict[str, Any]) -> str:
    return school_settings.add_account(
        session,
        identity,
        fields["username"],
        fields["password"],
        fields["role"],
        fields["student"] or None,
        fields["classes"] if fields["role"] == TEACHER else [],
    )


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
    """Every account as a row with its own labelled Disable / Enable button (confirmed first) and, for
    a teacher, the classes they teach; below, the form that creates one."""
    choices = await load(school_settings.class_choices, identity.tenant_id) or {}
    with ui.card().classes("w-full max-w-3xl"):
        ui.label("Dashboard accounts").classes("font-semibold").props('role="heading" aria-level="2"')
        listing = ui.column().classes("w-full gap-0")

        async def refresh() -> None:
            rows = await load(school_settings.accounts, identity.tenant_id) or []
            listing.clear()
            with listing:
                for row in rows:
                    _account_row(identity, row, choices, refresh)

        await refresh()
        ui.label("New account").classes("font-semibold pt-4").props('role="heading" aria-level="3"')
        with ui.row().classes("flex-wrap items-end gap-2"):
            username = ui.input("Username").mark("account-username")
            password = ui.input("Password (8+ characters)", password=True).classes("w-56")
            password.mark("account-password")
            role = ui.select(list(ACCOUNT_ROLES), value="librarian", label="Role").classes("w-36")
            role.mark("account-role")
            student = ui.input("Student id").mark("account-student")
            student.bind_visibility_from(role, "value", lambda value: value == STUDENT)
            classes = _class_picker(choices, []).mark("account-classes")
            classes.bind_visibility_from(role, "value", lambda value: value == TEACHER)

        async def create() -> None:
            fields = {"username": username.value, "password": password.value, "role": role.value}
            fields |= {"student": student.value, "classes": list(classes.value or [])}
            if await load(add_account, identity, fields):
                ui.notify(f"Account {username.value} created", type="positive")
                for field, empty in ((username, ""), (password, ""), (student, ""), (classes, [])):
                    field.set_value(empty)
                await refresh()

        ui.button("Create account", icon="person_add", on_click=create).mark("create-account")


def _class_picker(choices: dict[str, str], chosen: list[str]) -> ui.select:
    return ui.select(choices, value=chosen, multiple=True, label="Classes taught").classes("min-w-[14rem]")


def _account_row(
    identity: Principal, row: dict[str, Any], choices: dict[str, str], refresh: Callable[[], Awaitable[None]]
) -> None:
    name = row["username"]
    spoken = _spoken(name)
    active = row["status"] == "active"
    with (
        ui.element("div")
        .classes("w-full flex flex-wrap items-center gap-x-4 gap-y-1 border-b py-2")
        .props(f'data-testid="account-row-{name}"')
    ):
        with ui.column().classes("gap-0 grow min-w-[12rem]"):
            ui.label(name).classes("font-medium")
            about = {TEACHER: row["class_names"] or "no classes yet", STUDENT: row["student"]}
            ui.label(" · ".join(filter(None, [row["role"], about.get(row["role"], "")]))).classes(
                "text-sm text-gray-700"
            )
            ui.label(f"Last sign-in: {row['last_sign_in']}").classes("text-sm text-gray-700")
        ui.label("active" if active else "disabled").classes(
            "text-sm font-medium " + ("text-green-800" if active else "text-red-800")
        )
        if row["role"] == TEACHER:
            ui.button(
                "Classes", icon="groups", on_click=lambda: _classes_dialog(identity, row, choices, refresh)
            ).props(f'outline aria-label="Classes {spoken} teaches"').mark(f"classes-{name}")
        verb = "Disable" if active else "Enable"
        ui.button(verb, on_click=lambda: _confirm(identity, name, active, refresh)).props(
            f'outline aria-label="{verb} {spoken}"'
        ).mark(f"{verb.lower()}-{name}")


def _spoken(text: str) -> str:
    """Text for an attribute value (a username may hold any character)."""
    return text.replace('"', "'")


def _confirm(identity: Principal, name: str, active: bool, refresh: Callable[[], Awaitable[None]]) -> None:
    verb = "Disable" if active else "Enable"
    effect = "It is signed out on its next click." if active else "Its password signs in again."
    change = school_settings.remove_account if active else school_settings.restore_account
    question = f"{verb} the account {name}?"
    with ui.dialog().props(f'aria-label="{_spoken(question)}"') as dialog, ui.card():
        ui.label(question).classes("font-semibold")
        ui.label(effect)

        async def confirmed() -> None:
            dialog.close()
            if await load(change, identity, name):
                ui.notify(f"Account {name} {verb.lower()}d", type="positive")
                await refresh()

        with ui.row().classes("justify-end w-full"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button(verb, on_click=confirmed).mark(f"confirm-{verb.lower()}")
    dialog.open()


def _classes_dialog(
    identity: Principal, row: dict[str, Any], choices: dict[str, str], refresh: Callable[[], Awaitable[None]]
) -> None:
    name = row["username"]
    title = f"Classes {name} teaches"
    with ui.dialog().props(f'aria-label="{_spoken(title)}"') as dialog, ui.card().classes("min-w-[18rem]"):
        ui.label(title).classes("font-semibold")
        picker = _class_picker(choices, row["classes"]).classes("w-full").mark("assign-classes")

        async def save_classes() -> None:
            if await load(school_settings.assign_classes, identity, name, list(picker.value or [])):
                dialog.close()
                ui.notify(f"Classes of {name} saved", type="positive")
                await refresh()

        with ui.row().classes("justify-end w-full"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button("Save classes", on_click=save_classes).mark("save-classes")
    dialog.open()
