"""UI logic through NiceGUI's simulated ``User`` (no browser): sign-in, roles, the student page's
buttons, live weights and saved settings, against the real app with the demo school."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from nicegui import background_tasks, ui
from nicegui.testing.user import User
from sqlalchemy import select

from nextread.app import create_app
from nextread.engine.hybrid import Weights
from nextread.store.models import Interaction, Item
from nextread.store.models import User as Reader
from nextread.store.tenant_settings import TenantSettings, load_tenant_settings, save_tenant_settings
from nextread.store.tenants import interaction_weights
from nextread.ui.auth import safe_next
from nextread.ui.context import MOUNT_PATH
from nextread.ui.pages.student import simple_reason
from tests.ui.conftest import ADMIN_KEY, LIBRARIAN, READ_KEY, STUDENT, demo_settings

Scenario = Callable[[User, object], Awaitable[None]]


def run_as_user(data_dir: Path, scenario: Scenario) -> None:
    """The whole app in-process; NiceGUI's ``User`` drives the pages through it at ``/ui``."""
    app = create_app(demo_settings(data_dir))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                user = User(client)
                browser_navigate = user.navigate.to
                # NiceGUI's browser side prefixes navigation targets with the mount path; so does this.
                user.navigate.to = lambda target, new_tab=False: browser_navigate(  # type: ignore[method-assign]
                    MOUNT_PATH + target if target.startswith("/") else target, new_tab
                )
                await scenario(user, app)

    asyncio.run(main())


async def sign_in(user: User, username: str, password: str) -> None:
    await user.open("/ui/login")
    user.find(marker="username").type(username)
    user.find(marker="password").type(password)
    user.find(marker="password").trigger("keydown.enter")
    await signed_in(user)


async def signed_in(user: User, seconds: float = 20.0) -> None:
    """Sign-in hashes the password off the event loop; wait until the session knows the user, then
    until the sign-in's navigation home has finished (see :func:`navigations_settled`)."""
    for _ in range(int(seconds / 0.1)):
        response = await user.http_client.get("/ui/", follow_redirects=False)
        if not response.headers.get("location", "").endswith("/ui/login"):
            await navigations_settled()
            return
        await asyncio.sleep(0.1)


async def navigations_settled() -> None:
    """NiceGUI's simulated ``ui.navigate`` is one global, pointed at whichever ``User`` was touched
    last, and opens the page in a background task. A sign-in's navigation home that is still running
    (or that went to another simulated user) would otherwise land on a page the test opened next."""
    pending = [task for task in background_tasks.running_tasks if task.get_name().startswith("navigate")]
    if pending:
        await asyncio.wait(pending)


def test_wrong_password_is_refused_and_pages_need_sign_in(school_copy: Path) -> None:
    async def scenario(user: User, _app: object) -> None:
        response = await user.http_client.get("/ui/students", follow_redirects=False)
        assert response.status_code in {302, 303, 307}
        assert response.headers["location"].endswith("/ui/login?next=/ui/students")
        await user.open("/ui/login")
        user.find(marker="username").type(LIBRARIAN[0])
        user.find(marker="password").type("not-the-password").trigger("keydown.enter")
        await user.should_see("That did not match an account or key.", retries=40)

    run_as_user(school_copy, scenario)


async def _try_password(user: User, username: str, password: str, expect: str) -> None:
    problem = next(iter(user.find(marker="sign-in-problem").elements))
    problem.text = ""  # so the answer waited for is this attempt's, not the last one's
    user.find(marker="username").clear().type(username)
    user.find(marker="password").clear().type(password).trigger("keydown.enter")
    for _ in range(400):
        if problem.text == expect:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the sign-in page never said {expect!r}")


def test_after_five_wrong_passwords_the_right_one_is_refused_for_real_and_unknown_names(
    school_copy: Path,
) -> None:
    locked = "Too many attempts; try again in 1 minute."

    async def scenario(user: User, _app: object) -> None:
        await user.open("/ui/login")
        for username in (LIBRARIAN[0], "no-such-person"):
            for _ in range(4):
                await _try_password(user, username, "guess", "That did not match an account or key.")
            await _try_password(user, username, "guess", locked)
            await _try_password(user, username, LIBRARIAN[1], locked)
        assert (
            (await user.http_client.get("/ui/", follow_redirects=False))
            .headers["location"]
            .endswith("/ui/login")
        )
        await sign_in(user, STUDENT[0], STUDENT[1])  # another username is not locked
        assert (await user.http_client.get(f"/ui/read/{STUDENT[2]}")).status_code == 200

    run_as_user(school_copy, scenario)


def test_a_deep_link_survives_sign_in_but_never_leads_off_the_dashboard(school_copy: Path) -> None:
    async def scenario(user: User, _app: object) -> None:
        response = await user.http_client.get("/ui/students/st-001?tab=x", follow_redirects=False)
        assert response.headers["location"].endswith("/ui/login?next=/ui/students/st-001%3Ftab%3Dx")
        await user.open("/ui/login?next=/ui/students/st-001")
        user.find(marker="username").type(LIBRARIAN[0])
        user.find(marker="password").type(LIBRARIAN[1]).trigger("keydown.enter")
        await user.should_see("Open the student's own page", retries=100)
        assert user.back_history[-1] == "/ui/students/st-001"

    run_as_user(school_copy, scenario)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/ui/x",
        "//evil.example/ui/x",
        "/\\evil.example/ui/x",
        "/ui/logout",
        "/api/x",
        "",
    ],
)
def test_safe_next_keeps_only_dashboard_pages(target: str) -> None:
    assert safe_next(target) is None
    assert safe_next("/ui/students/st-001?x=1") == "/ui/students/st-001?x=1"


def test_student_cannot_open_staff_pages_or_another_students_page(school_copy: Path) -> None:
    async def scenario(user: User, _app: object) -> None:
        await sign_in(user, STUDENT[0], STUDENT[1])
        for path in (
            "/ui/overview",
            "/ui/students",
            "/ui/students/st-001",
            "/ui/classes",
            "/ui/catalog",
            "/ui/import",
            "/ui/settings",
            "/ui/read/st-002",
        ):
            response = await user.http_client.get(path)
            assert response.status_code == 403, path
            assert "Not allowed" in response.text
        own = await user.http_client.get(f"/ui/read/{STUDENT[2]}")
        assert own.status_code == 200

    run_as_user(school_copy, scenario)


def test_librarian_cannot_open_settings_but_sees_students(school_copy: Path) -> None:
    async def scenario(user: User, _app: object) -> None:
        await sign_in(user, LIBRARIAN[0], LIBRARIAN[1])
        assert (await user.http_client.get("/ui/settings")).status_code == 403
        await user.open("/ui/students")
        table = next(iter(user.find(ui.table).elements))
        # The list is paged in the database (25 a page), so all 150 are reachable, not the first 500.
        assert len(table.rows) == 25
        await user.should_see("1–25 of 150 students")
        user.find(marker="student-search").type("ethan")
        for _ in range(100):
            if all("ethan" in row["name"].lower() for row in table.rows):
                break
            await asyncio.sleep(0.05)
        assert table.rows and all("ethan" in row["name"].lower() for row in table.rows)
        assert any(row["id"] == "st-001" and row["name"] == "Ethan J." for row in table.rows)

    run_as_user(school_copy, scenario)


def test_like_on_the_student_page_logs_the_interaction_and_drops_the_book(school_copy: Path) -> None:
    async def scenario(user: User, app: object) -> None:
        top = await user.http_client.get(
            f"/v1/users/{STUDENT[2]}/recommendations?n=1", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
        book = top.json()["data"][0]["id"]
        await sign_in(user, STUDENT[0], STUDENT[1])
        await user.open(f"/ui/read/{STUDENT[2]}")
        await user.should_see(marker=f"like-{book}", retries=40)
        user.find(marker=f"like-{book}").click()
        await user.should_see("Added to your liked books", retries=40)
        await user.should_not_see(marker=f"like-{book}", retries=40)
        with app.state.session_factory() as session:  # type: ignore[attr-defined]
            kinds = session.scalars(
                select(Interaction.type)
                .join(Reader, Reader.id == Interaction.user_id)
                .where(Reader.external_id == STUDENT[2], Interaction.type == "like")
            ).all()
        assert kinds == ["like"]

    run_as_user(school_copy, scenario)


def test_saved_weights_reach_the_recommendation_service(school_copy: Path) -> None:
    async def scenario(user: User, app: object) -> None:
        state = app.state  # type: ignore[attr-defined]
        with state.session_factory() as session:
            tenant_id = session.scalar(select(Reader.tenant_id).limit(1))
            before = state.recommendations.tenant_weights(session, tenant_id)
            assert before == Weights()
            save_tenant_settings(
                session, tenant_id, TenantSettings(weights=Weights(cf=0.0, reading_match=2.0))
            )
            session.commit()
            state.recommendations.forget_tenant_settings(tenant_id)
            assert state.recommendations.tenant_weights(session, tenant_id).reading_match == 2.0
            assert load_tenant_settings(session, tenant_id).weights.cf == 0.0

    run_as_user(school_copy, scenario)


def test_api_key_sign_in_reaches_the_overview(school_copy: Path) -> None:
    async def scenario(user: User, _app: object) -> None:
        await user.open("/ui/login")
        user.find(marker="api-key").type(ADMIN_KEY).trigger("keydown.enter")
        await user.should_see("Active students (30 days)", retries=40)

    run_as_user(school_copy, scenario)


@pytest.mark.parametrize(
    ("explanation", "sentence"),
    [
        (
            "Because you enjoyed *The Hidden Cave*; right at your reading level",
            "Because you enjoyed The Hidden Cave.",
        ),
        ("right at your reading level.", "Right at your reading level."),
        ("Because you enjoyed *Goal!*", "Because you enjoyed Goal!"),
        ("Because you enjoyed *Wait.*; highly rated.", "Because you enjoyed Wait."),
        (None, "We think you will enjoy this one."),
    ],
)
def test_simple_reason_is_one_short_sentence(explanation: str | None, sentence: str) -> None:
    assert simple_reason(explanation) == sentence


def _item(app: object, item_id: str) -> Item:
    with app.state.session_factory() as session:  # type: ignore[attr-defined]
        return session.scalar(select(Item).where(Item.external_id == item_id))


def test_librarian_sets_a_staff_pick_and_edits_a_book(school_copy: Path) -> None:
    async def scenario(user: User, app: object) -> None:
        book = "bk-0001"
        assert not _item(app, book).staff_pick
        await sign_in(user, LIBRARIAN[0], LIBRARIAN[1])
        await user.open(f"/ui/catalog/{book}")
        await user.should_see(marker="staff-pick", retries=40)
        user.find(marker="staff-pick").click()
        await user.should_see("Staff pick on", retries=40)
        assert _item(app, book).staff_pick
        user.find(marker="edit-available_copies").clear().type("7")
        user.find(marker="edit-lexile").clear().type("not a number")
        user.find(marker="save-book").click()
        await user.should_see("lexile", retries=40)
        assert _item(app, book).available_copies != 7  # a bad field rejects the whole change
        user.find(marker="edit-lexile").clear().type("520")
        user.find(marker="save-book").click()
        await user.should_see("Saved", retries=40)
        saved = _item(app, book)
        assert (saved.available_copies, saved.lexile) == (7, 520)
        user.find(marker="edit-grade_min").clear().type("5")
        user.find(marker="edit-grade_max").clear().type("2")
        user.find(marker="save-book").click()
        await user.should_see("must not be below grade_min", retries=40)
        assert _item(app, book).grade_min != 5  # the lowest grade may not pass the highest

    run_as_user(school_copy, scenario)


def test_catalog_search_says_why_it_found_nothing(school_copy: Path) -> None:
    async def scenario(user: User, _app: object) -> None:
        await sign_in(user, LIBRARIAN[0], LIBRARIAN[1])
        await user.open("/ui/catalog?q=qwxzvbn")
        await user.should_see("No book matches 'qwxzvbn'.", retries=40)

    run_as_user(school_copy, scenario)


def test_read_only_key_can_look_but_not_curate(school_copy: Path) -> None:
    async def scenario(user: User, _app: object) -> None:
        await user.open("/ui/login")
        user.find(marker="api-key").type(READ_KEY).trigger("keydown.enter")
        await signed_in(user)
        await user.open("/ui/catalog/bk-0001")
        await user.should_see("Similar books", retries=40)
        await user.should_not_see(marker="staff-pick")
        await user.should_not_see(marker="save-book")
        for path in ("/ui/import", "/ui/settings"):
            assert (await user.http_client.get(path)).status_code == 403

    run_as_user(school_copy, scenario)


def test_settings_page_saves_weights_that_apply_at_once(school_copy: Path) -> None:
    async def scenario(user: User, app: object) -> None:
        await user.open("/ui/login")
        user.find(marker="api-key").type(ADMIN_KEY).trigger("keydown.enter")
        await signed_in(user)
        await user.open("/ui/settings")
        await user.should_see(marker="save-settings", retries=40)
        next(iter(user.find(marker="setting-cf").elements)).set_value(0.0)
        next(iter(user.find(marker="setting-reading_match").elements)).set_value(3.0)
        user.find(marker="new-type").type("Not For Me")
        user.find(marker="add-type").click()
        await user.should_see("type: lower-case letters and _ (up to 32), not already listed")
        user.find(marker="new-type").clear().type("dismiss")
        user.find(marker="add-type").click()
        await user.should_see(marker="type-dismiss")
        next(iter(user.find(marker="type-dismiss").elements)).set_value(-1.0)
        user.find(marker="save-settings").click()
        await user.should_see("Saved: new recommendations use these settings now", retries=40)
        state = app.state  # type: ignore[attr-defined]
        with state.session_factory() as session:
            tenant_id = session.scalar(select(Item.tenant_id).limit(1))
            served = state.recommendations.tenant_weights(session, tenant_id)
            types = interaction_weights(session, tenant_id)
        assert (served.cf, served.reading_match) == (0.0, 3.0)
        assert types["dismiss"] == (-1.0, False) and types["checkout"] == (3.0, True)

    run_as_user(school_copy, scenario)


def test_overview_shows_counts_model_and_event_lag(school_copy: Path) -> None:
    async def scenario(user: User, _app: object) -> None:
        await user.open("/ui/login")
        user.find(marker="api-key").type(ADMIN_KEY).trigger("keydown.enter")
        await user.should_see("Active students (30 days)", retries=40)
        await user.should_see("300", retries=5)
        await user.should_see("events waiting to be published", retries=20)
        await user.should_see("Version 1", retries=5)

    run_as_user(school_copy, scenario)


def _likes(app: object, student_id: str) -> int:
    with app.state.session_factory() as session:  # type: ignore[attr-defined]
        return len(
            session.scalars(
                select(Interaction.id)
                .join(Reader, Reader.id == Interaction.user_id)
                .where(Reader.external_id == student_id, Interaction.type == "like")
            ).all()
        )


def test_read_only_key_cannot_press_a_students_buttons(school_copy: Path) -> None:
    async def scenario(user: User, app: object) -> None:
        top = await user.http_client.get(
            f"/v1/users/{STUDENT[2]}/recommendations?n=1", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
        book = top.json()["data"][0]["id"]
        likes = _likes(app, STUDENT[2])
        await user.open("/ui/login")
        user.find(marker="api-key").type(READ_KEY).trigger("keydown.enter")
        await signed_in(user)
        await user.open(f"/ui/read/{STUDENT[2]}")
        # Every press would be refused: the buttons are not shown, a note says why.
        await user.should_see("read-only key", retries=40)
        await user.should_see(_item(app, book).title, retries=40)
        await user.should_not_see(marker=f"like-{book}")
        assert _likes(app, STUDENT[2]) == likes

    run_as_user(school_copy, scenario)


def test_admin_creates_and_disables_an_account_that_then_loses_access(school_copy: Path) -> None:
    async def scenario(admin: User, app: object) -> None:
        await admin.open("/ui/login")
        admin.find(marker="api-key").type(ADMIN_KEY).trigger("keydown.enter")
        await signed_in(admin)
        await admin.open("/ui/settings")
        await admin.should_see(marker="create-account", retries=40)
        admin.find(marker="account-username").type("mr-okafor")
        admin.find(marker="account-password").type("short")
        admin.find(marker="create-account").click()
        await admin.should_see("password: must be at least 8 characters", retries=40)
        admin.find(marker="account-password").clear().type("a-good-long-password")
        admin.find(marker="create-account").click()
        await admin.should_see("Account mr-okafor created", retries=40)

        transport = httpx.ASGITransport(app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            teacher = User(client)
            await sign_in(teacher, "mr-okafor", "a-good-long-password")
            assert (await teacher.http_client.get("/ui/students")).status_code == 200
            # The teacher's sign-in may have navigated the admin's simulated page: open it afresh.
            await admin.open("/ui/settings")
            await admin.should_see(marker="disable-mr-okafor", retries=40)
            admin.find(marker="disable-mr-okafor").click()
            await admin.should_see("Disable the account mr-okafor?", retries=40)
            admin.find(marker="confirm-disable").click()
            await admin.should_see("Account mr-okafor disabled", retries=40)
            response = await teacher.http_client.get("/ui/students", follow_redirects=False)
            assert response.headers["location"].endswith("/ui/login?next=/ui/students")

    run_as_user(school_copy, scenario)
