"""A student's reading level: priors, reading evidence, recency, bands; the API route and its errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from nextread.levels import parse_level
from nextread.services.student_levels import (
    BookSignal,
    StudentLevel,
    UnknownStudentError,
    assess,
    get_student_reading_level,
)
from nextread.store.tenants import create_api_key, ensure_tenant
from tests.conftest import Database


def book(level: float, outcome: str = "finished", liked: bool = False, age_days: float = 10) -> BookSignal:
    return BookSignal(f"Book at {level}", level, outcome, liked, age_days)


def test_nothing_known_means_no_level_and_zero_confidence() -> None:
    result = assess("s", None, None, None, [], "grade")
    assert result.level is None and result.confidence == 0.0 and result.just_right is None
    assert result.evidence


def test_grade_alone_is_a_weak_prior_at_mid_year() -> None:
    result = assess("s", None, None, 2, [], "grade")
    assert result.level == 2.5
    assert result.confidence < 0.4
    assert result.evidence == ["In grade 2, where a typical reader is at grade 2.5."]


def test_a_stated_level_outweighs_the_grade_and_is_surer() -> None:
    stated = assess("s", 700, None, 2, [], "lexile")
    assert parse_level("500L") < stated.level < parse_level("700L")
    assert stated.level - 2.5 > 0.8 * (parse_level("700L") - 2.5)
    assert stated.confidence > assess("s", None, None, 2, [], "grade").confidence
    assert stated.shown.scale == "lexile" and stated.shown.label.endswith("L")
    assert stated.evidence[0].startswith("Stated Lexile 700L")


def test_books_finished_above_grade_move_the_level_up_and_raise_confidence() -> None:
    reader = assess("s", None, None, 2, [book(4.0), book(4.2, liked=True), book(3.8)], "grade")
    assert 3.6 < reader.level < 4.1
    assert reader.confidence > 0.5
    assert any(line.startswith("Finished 3 levelled books, liked 1") for line in reader.evidence)


def test_books_abandoned_just_above_the_level_pull_it_down_others_do_not() -> None:
    base = assess("s", None, None, 3, [book(3.5), book(3.6)], "grade")
    too_hard = assess("s", None, None, 3, [book(3.5), book(3.6), book(4.3, "abandoned")], "grade")
    far_too_hard = assess("s", None, None, 3, [book(3.5), book(3.6), book(9.0, "abandoned")], "grade")
    too_easy = assess("s", None, None, 3, [book(3.5), book(3.6), book(1.0, "abandoned")], "grade")
    assert too_hard.level < base.level
    assert far_too_hard.level == base.level
    assert too_easy.level == base.level
    assert any("too hard" in line for line in too_hard.evidence)
    assert any("not counted" in line for line in too_easy.evidence)


def test_recent_books_count_more_than_old_ones() -> None:
    recent_hard = assess("s", None, None, None, [book(2.0, age_days=400), book(4.0, age_days=5)], "grade")
    old_hard = assess("s", None, None, None, [book(2.0, age_days=5), book(4.0, age_days=400)], "grade")
    assert recent_hard.level > 3.5 > 2.5 > old_hard.level


def test_disagreeing_evidence_lowers_confidence() -> None:
    consistent = assess("s", None, None, None, [book(3.0), book(3.1), book(2.9), book(3.0)], "grade")
    scattered = assess("s", None, None, None, [book(0.5), book(6.0), book(1.0), book(5.5)], "grade")
    assert scattered.confidence < consistent.confidence


def test_bands_just_right_then_stretch_widening_when_unsure() -> None:
    sure = assess("s", 500, None, 3, [book(3.4)] * 8, "grade")
    unsure = assess("s", None, None, 3, [], "grade")
    for result in (sure, unsure):
        assert result.just_right.low < result.level < result.just_right.high == result.stretch.low
        assert result.stretch.high > result.stretch.low
    width = lambda r: r.just_right.high - r.just_right.low  # noqa: E731
    assert width(unsure) > width(sure) >= 1.0
    band = unsure.just_right
    assert band.label == f"{band.shown_low.label} – {band.shown_high.label}"


def test_output_model_round_trips_as_json() -> None:
    result = assess("s", None, "M", 2, [book(3.0)], "guided_reading")
    assert StudentLevel.model_validate_json(result.model_dump_json()) == result
    assert result.shown.scale == "guided_reading" and len(result.shown.value) == 1


@pytest.fixture
def school(client: TestClient) -> TestClient:
    now = datetime.now(UTC)
    books = [("easy", 300), ("right", 560), ("hard", 1000), ("unlevelled", None)]
    for item_id, lexile in books:
        body = {"id": item_id, "title": item_id.title(), "lexile": lexile}
        assert client.post("/v1/items", json=body).status_code == 201
    assert client.post("/v1/users", json={"id": "ava", "grade": 3}).status_code == 201
    assert client.post("/v1/users", json={"id": "ben", "grade": 3, "lexile": 400}).status_code == 201
    events = [
        ("ava", "right", "finished", None, 3),
        ("ava", "right", "rating", 5, 3),
        ("ava", "easy", "checkout", None, 40),
        ("ava", "hard", "abandoned", None, 2),
        ("ava", "unlevelled", "finished", None, 1),
    ]
    for user, item, kind, value, days in events:
        event = {"user_id": user, "item_id": item, "type": kind, "value": value}
        event["timestamp"] = (now - timedelta(days=days)).isoformat()
        assert client.post("/v1/interactions", json=event).status_code in (200, 201, 202)
    return client


def test_reading_level_route_reports_level_confidence_evidence_and_bands(school: TestClient) -> None:
    body = school.get("/v1/users/ava/reading-level").json()
    assert body["user_id"] == "ava" and body["scale"] == "grade"
    assert parse_level("300L") < body["level"] < parse_level("1000L")
    assert 0 < body["confidence"] < 1
    assert len(body["evidence"]) == 4  # grade, finished, borrowed, abandoned-too-hard; unlevelled ignored
    assert body["just_right"]["low"] < body["level"] < body["just_right"]["high"]
    lexile = school.get("/v1/users/ava/reading-level", params={"scale": "lexile"}).json()
    assert lexile["level"] == body["level"] and lexile["shown"]["label"].endswith("L")


def test_function_and_route_agree(school: TestClient, database: Database) -> None:
    with database.sessions() as session:
        tenant_id = ensure_tenant(session, "default").id
        direct = get_student_reading_level(session, tenant_id, "ben", scale="grade")
        with pytest.raises(UnknownStudentError, match="user_id"):
            get_student_reading_level(session, tenant_id, "nobody")
    assert school.get("/v1/users/ben/reading-level").json() == direct.model_dump(mode="json")


def test_unknown_user_bad_scale_and_other_tenants(school: TestClient, database: Database) -> None:
    missing = school.get("/v1/users/nobody/reading-level")
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]
    bad = school.get("/v1/users/ava/reading-level", params={"scale": "stars"})
    assert bad.status_code == 422 and "scale" in bad.json()["detail"]
    with database.sessions() as session:
        other_key = create_api_key(session, ensure_tenant(session, "hillside"), "read", "hillside")
        session.commit()
    other = TestClient(school.app, headers={"Authorization": f"Bearer {other_key}"})
    assert other.get("/v1/users/ava/reading-level").status_code == 404
