"""The OpenAPI document tells the truth: schemathesis generates valid and invalid requests for every
operation from it and checks each answer with all its checks.

In-process against the ASGI app on SQLite and PostgreSQL, at least 100 examples per operation, each
sent with an admin key and with a read key, derandomized so a failure reproduces. The test fails on any
server error, undocumented status, body or content type off its schema, ignored auth or wrong answer
to an unsupported method. Two checks judge how strict validation is rather than whether the document
is true (a valid-looking request refused for a rule JSON Schema cannot state, or a lenient parse
accepting what the schema calls invalid): their findings are reported as warnings.
``POST /v1/models/train`` is left out: each call trains a model (seconds each), and its statuses are
those of every admin write without a body.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import unquote

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import AcceptedNegativeData, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.python.asgi import get_client, shutdown_lifespans

from nextread.app import create_app
from nextread.config import Settings
from tests.conftest import ADMIN_KEY, READ_KEY

EXAMPLES = int(os.environ.get("NEXTREAD_SCHEMATHESIS_EXAMPLES", "100"))
SKIPPED = {("POST", "/v1/models/train")}
STRICTNESS = (RejectedPositiveData, AcceptedNegativeData)


def _seed(client) -> None:  # type: ignore[no-untyped-def]
    """A few rows, so lookups find something and rankings have a catalog to rank."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for index in range(6):
        book = {"id": f"b{index}", "title": f"Book {index}", "authors": ["A"], "grade_min": index % 4}
        assert client.put(f"/v1/items/b{index}", json=book, headers=admin).status_code == 200
        user = {"id": f"u{index}", "grade": index % 4}
        assert client.put(f"/v1/users/u{index}", json=user, headers=admin).status_code == 200
    events = [
        {"user_id": f"u{u}", "item_id": f"b{(u + i) % 6}", "type": "finished", "event_id": f"e{u}-{i}"}
        for u in range(6)
        for i in range(3)
    ]
    assert client.post("/v1/interactions/batch", json=events, headers=admin).status_code == 201
    group = {"id": "g1", "name": "Class 1", "members": ["u0", "u1"]}
    assert client.put("/v1/groups/g1", json=group, headers=admin).status_code == 200


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[object, object]]:
    app = create_app(settings)
    with get_client(app) as client:
        _seed(client)
        yield app, client
    shutdown_lifespans()


def _consistent(case):  # type: ignore[no-untyped-def]
    """A schema-valid request made to follow the rules JSON Schema cannot state, so that a 422 for a
    valid request stays a failure: a PUT's body id is its path id, a cursor is one the API issued, the
    lowest level is not above the highest, and ``weights`` names known components (tested on its own)."""
    if isinstance(case.body, dict) and isinstance(case.body.get("id"), str) and case.path_parameters:
        case.body["id"] = unquote(next(iter(case.path_parameters.values())))
    query = case.query or {}
    for name in ("cursor", "weights"):
        query.pop(name, None)
    for name, level in (("level_min", "grade 1"), ("level_max", "grade 3")):
        if isinstance(query.get(name), str):  # free-form in search: any notation, tested on its own
            query[name] = level
    _ordered(query, "level_min", "level_max", float)
    _ordered(query, "since", "until", _timestamp)
    return case


def _timestamp(value: object) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _ordered(query: dict, low_name: str, high_name: str, parse) -> None:  # type: ignore[no-untyped-def]
    """The lower bound below the upper one, as the API requires."""
    if query.get(low_name) is None or query.get(high_name) is None:
        return
    try:
        low, high = parse(query[low_name]), parse(query[high_name])
    except (TypeError, ValueError):
        return  # not this bound's type: a mutation of the negative phase, left as generated
    if low > high:
        query[low_name], query[high_name] = query[high_name], query[low_name]
    elif low == high:
        del query[high_name]


def _strategy(operation):  # type: ignore[no-untyped-def]
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE).map(_consistent),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )


def _failures_of(operation, client, checks) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    """What the operation's examples broke: the contract (fails the test), and validation strictness."""
    broken: list[str] = []
    strictness: list[str] = []

    @given(case=_strategy(operation))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is reported as found
    )
    def run(case) -> None:  # type: ignore[no-untyped-def]
        for role, key in (("admin", ADMIN_KEY), ("read", READ_KEY)):
            headers = {"Authorization": f"Bearer {key}"}
            try:
                case.call_and_validate(session=client, headers=headers, checks=checks)
            except FailureGroup as exc:  # collected, so one run reports every operation's failures
                advisory = all(isinstance(failure, STRICTNESS) for failure in exc.exceptions)
                _note(strictness if advisory else broken, f"[{role} key] {exc}")
            except Exception as exc:  # noqa: BLE001 - raised by the app in-process: a 500 to a client
                _note(
                    broken, f"[{role} key] server error {type(exc).__name__}: {exc}\n{case.as_curl_command()}"
                )

    with contextlib.suppress(Unsatisfiable):
        run()
    return broken, strictness


def _note(failures: list[str], failure: str) -> None:
    if len(failures) < 3:
        failures.append(failure[:2000])


def test_every_answer_matches_the_openapi_document(api) -> None:  # type: ignore[no-untyped-def]
    app, client = api
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # each example is sent with both keys (``ignored_auth`` also sends it without one); unknown query
    # parameters are ignored, as HTTP APIs commonly do, so they are not generated as invalid input
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    load_all_checks()
    checks = CHECKS.get_all()
    report: dict[str, list[str]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        broken, strictness = _failures_of(operation, client, checks)
        if broken:
            report[label] = broken
        for finding in strictness:
            warnings.warn(f"{label}: {finding}", stacklevel=1)
    assert not report, "\n\n".join(f"{name}:\n" + "\n---\n".join(found) for name, found in report.items())
