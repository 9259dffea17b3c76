"""One error shape everywhere: an RFC 9457 problem whose `detail` names the field, declared in OpenAPI."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import READ_KEY

PROBLEM = "application/problem+json"


def _problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "about:blank" and body["status"] == status and isinstance(body["detail"], str)
    assert body["instance"] == response.request.url.path
    return body


def test_every_error_status_is_a_problem_naming_the_field(client: TestClient, anonymous: TestClient) -> None:
    assert _problem(anonymous.get("/v1/items"), 401)["detail"].startswith("missing API key")
    reader = TestClient(client.app, headers={"Authorization": f"Bearer {READ_KEY}"})
    assert "read-only" in _problem(reader.post("/v1/items", json={"id": "a", "title": "A"}), 403)["detail"]
    assert _problem(client.get("/v1/items/ghost"), 404)["detail"] == "item_id: unknown item 'ghost'"
    assert client.post("/v1/items", json={"id": "a", "title": "A"}).status_code == 201
    assert (
        "already exists" in _problem(client.post("/v1/items", json={"id": "a", "title": "A"}), 409)["detail"]
    )
    assert _problem(client.get("/v1/no-such-route"), 404)["detail"] == "Not Found"


def test_a_422_has_a_string_detail_and_a_list_of_fields(client: TestClient) -> None:
    # raised by a validator (it used to answer a bare string where OpenAPI promised a list)
    cursor = _problem(client.get("/v1/items", params={"cursor": "!!"}), 422)
    assert cursor["detail"] == "query.cursor: not a next_cursor returned by a previous page"
    reason = cursor["detail"].removeprefix("query.cursor: ")
    assert cursor["errors"] == [{"loc": ["query", "cursor"], "msg": reason, "type": "value_error"}]
    # raised by FastAPI's validation
    limit = _problem(client.get("/v1/items", params={"limit": 0}), 422)
    assert limit["detail"].startswith("query.limit: ")
    assert [error["loc"] for error in limit["errors"]] == [["query", "limit"]]


def test_no_python_text_leaks_from_a_bad_weights_parameter(client: TestClient) -> None:
    client.put("/v1/users/u1", json={"id": "u1"})
    client.put("/v1/items/b1", json={"id": "b1", "title": "B"})
    for weights, reason in [
        ("cf", "weights: 'cf' is not name:number (e.g. cf:0.2)"),
        ("cf:lots", "weights: cf: 'lots' is not a number"),
        ("[1]", "weights: 'not name:number"),
        ("{nope", "weights: not a JSON object"),
    ]:
        body = _problem(client.get("/v1/users/u1/recommendations", params={"weights": weights}), 422)
        assert "unpack" not in body["detail"] and "Traceback" not in body["detail"]
        assert body["detail"].startswith(reason.split("'not")[0]), body["detail"]
        assert body["errors"][0]["loc"] == ["query", "weights"]


def test_openapi_declares_each_operations_errors_with_the_problem_schema(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    problem = {"$ref": "#/components/schemas/Problem"}
    assert "Problem" in document["components"]["schemas"]
    operations = {
        f"{method.upper()} {path}": operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    for label, operation in operations.items():
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and label != "GET /readyz":
                assert response["content"] == {PROBLEM: {"schema": problem}}, (label, status)
        if label.split()[1].startswith("/v1"):
            assert {"401", "500", "503"} <= set(operation["responses"]), label
    assert {"403", "404", "409", "413", "422"} <= set(operations["POST /v1/groups"]["responses"])
    assert "403" not in operations["GET /v1/items"]["responses"]
    assert {"401", "404", "422"} <= set(operations["GET /v1/users/{user_id}/recommendations"]["responses"])
