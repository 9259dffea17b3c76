"""Recommendation endpoints over a small hand-made library where the right answers are known."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from nextread.app import create_app
from nextread.config import Settings
from tests.conftest import READ_KEY

DRAGONS = [f"dragon-{n}" for n in range(5)]
SPACE = [f"space-{n}" for n in range(5)]


def _library(client: TestClient) -> None:
    for n, item_id in enumerate(DRAGONS):
        client.post(
            "/v1/items",
            json={
                "id": item_id,
                "title": f"The Dragon Egg {n}",
                "authors": ["Ada Quill"],
                "tags": ["dragons", "fantasy"],
                "description": "A young dragon hatches and learns to fly over the castle.",
                "lexile": 300 + 20 * n,
                "grade_min": 1,
                "grade_max": 3,
                "available_copies": 2,
            },
        )
    for n, item_id in enumerate(SPACE):
        client.post(
            "/v1/items",
            json={
                "id": item_id,
                "title": f"Rocket Kids {n}",
                "authors": ["Bo Stellar"],
                "tags": ["space", "science"],
                "description": "Astronauts fly a rocket to the moon and study the planets.",
                "lexile": 320 + 20 * n,
                "grade_min": 1,
                "grade_max": 3,
                "available_copies": 2,
            },
        )
    events = []
    for reader in range(8):
        shelf = DRAGONS if reader < 4 else SPACE
        client.post("/v1/users", json={"id": f"st-{reader}", "grade": 2})
        events += [{"user_id": f"st-{reader}", "item_id": item, "type": "finished"} for item in shelf[:4]]
    client.post("/v1/users", json={"id": "new-dragon-fan", "grade": 2})
    events += [{"user_id": "new-dragon-fan", "item_id": item, "type": "finished"} for item in DRAGONS[:2]]
    assert client.post("/v1/interactions/batch", json=events).json()["rejected"] == []


@pytest.fixture
def library(client: TestClient) -> TestClient:
    _library(client)
    return client


def _ids(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


def test_recommends_the_readers_cluster_first_and_never_what_they_read(library: TestClient) -> None:
    response = library.get("/v1/users/new-dragon-fan/recommendations", params={"n": 3, "diversity": 0})
    ids = _ids(response)
    assert set(ids) <= set(DRAGONS[2:]), ids
    top = response.json()["data"][0]
    assert top["components"]["cf"] >= 0.9
    assert "Because you enjoyed *The Dragon Egg" in top["explanation"]
    assert response.json()["model_version"] == 1


def test_a_new_interaction_changes_the_next_list_without_retraining(library: TestClient) -> None:
    before = _ids(library.get("/v1/users/new-dragon-fan/recommendations", params={"n": 3}))
    library.post(
        "/v1/interactions", json={"user_id": "new-dragon-fan", "item_id": before[0], "type": "finished"}
    )
    after = library.get("/v1/users/new-dragon-fan/recommendations", params={"n": 3})
    assert before[0] not in _ids(after)
    assert after.json()["model_version"] == 1


def test_weights_override_and_unknown_weight(library: TestClient) -> None:
    zero = "cf:0,semantic:0,reading_match:0,rating:0,social:0,recency:0,staff_pick:0,series:0"

    def ranking(weights: str) -> list[str]:
        params = {"n": 4, "diversity": 0, "weights": weights}
        return _ids(library.get("/v1/users/new-dragon-fan/recommendations", params=params))

    content_only = ranking(zero.replace("semantic:0", "semantic:1"))
    assert set(content_only[:3]) == set(DRAGONS[2:])
    level_only = ranking(zero.replace("reading_match:0", "reading_match:1"))
    assert level_only[0] in {"space-0", "dragon-2"}  # 320L/340L: nearest the 2nd-grade level
    assert content_only != level_only
    bad = library.get("/v1/users/new-dragon-fan/recommendations", params={"weights": "charm:1"})
    assert bad.status_code == 422
    assert "charm" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"n": 0}, "query.n"),
        ({"n": "ten"}, "query.n"),
        ({"offset": -1}, "query.offset"),
        ({"diversity": 2}, "query.diversity"),
        ({"stretch_above": 0}, "query.stretch_above"),
        ({"level_min": "high"}, "query.level_min"),
        ({"explain": "perhaps"}, "query.explain"),
        ({"llm": "perhaps"}, "query.llm"),
    ],
)
def test_bad_parameters_are_a_422_naming_the_field(
    library: TestClient, query: dict[str, object], field: str
) -> None:
    response = library.get("/v1/users/new-dragon-fan/recommendations", params=query)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{field}: ")
    assert [".".join(map(str, error["loc"])) for error in response.json()["errors"]] == [field]
    if field != "query.llm":  # the anonymous reader's endpoint takes the same parameters
        body = library.post("/v1/recommendations", params=query, json={"grade": 2})
        assert body.status_code == 422 and body.json()["detail"].startswith(f"{field}: ")


def test_parameters_are_read_as_before(library: TestClient) -> None:
    """Booleans in every spelling FastAPI accepts, unknown parameters ignored, the last value wins."""
    path = "/v1/users/new-dragon-fan/recommendations"
    plain = library.get(path, params={"n": 3, "explain": "false"}).json()
    assert plain["data"][0]["components"] is None
    assert library.get(path, params={"n": 3, "explain": "0", "colour": "red"}).json() == plain
    assert library.get(f"{path}?n=5&n=3&explain=off").json() == plain
    assert library.get(path, params={"level_min": 3, "level_max": 1}).status_code == 422


def test_recommendation_parameters_are_documented_alike(library: TestClient) -> None:
    """The GET endpoint parses its query itself; its docs are what FastAPI writes for the POST's."""
    paths = library.get("/openapi.json").json()["paths"]
    personal = paths["/v1/users/{user_id}/recommendations"]["get"]["parameters"]
    anonymous = paths["/v1/recommendations"]["post"]["parameters"]
    assert [p["name"] for p in personal] == ["user_id", *(p["name"] for p in anonymous), "llm"]
    assert personal[1:-1] == anonymous
    assert personal[1]["schema"]["maximum"] == 200 and "How many" in personal[1]["description"]


def test_filters_never_leak(library: TestClient) -> None:
    library.patch("/v1/items/space-4", json={"available_copies": 0})
    ids = _ids(
        library.get("/v1/users/new-dragon-fan/recommendations", params={"n": 20, "exclude_tags": "dragons"})
    )
    assert ids and not any(item.startswith("dragon") for item in ids)
    assert "space-4" not in ids
    unavailable = _ids(
        library.get("/v1/users/st-0/recommendations", params={"n": 20, "available_only": False})
    )
    assert "space-4" in unavailable


def test_unknown_user_and_item_are_404(library: TestClient) -> None:
    missing_user = library.get("/v1/users/ghost/recommendations")
    assert missing_user.status_code == 404
    assert "ghost" in missing_user.json()["detail"]
    assert library.get("/v1/items/ghost/similar").status_code == 404
    assert library.post("/v1/recommendations", json={"item_ids": ["ghost"]}).status_code == 404


def test_similar_items_and_a_new_book_gets_content_neighbours(library: TestClient) -> None:
    assert set(_ids(library.get("/v1/items/dragon-0/similar", params={"n": 4}))) == set(DRAGONS[1:])
    library.get("/v1/users/st-0/recommendations")  # a model exists from here on
    library.post(
        "/v1/items",
        json={
            "id": "dragon-new",
            "title": "Dragon Hatchling Adventures",
            "tags": ["dragons"],
            "description": "A baby dragon hatches from an egg and flies over the castle.",
        },
    )
    neighbours = _ids(library.get("/v1/items/dragon-new/similar", params={"n": 3}))
    assert all(item.startswith("dragon") for item in neighbours), neighbours


def test_similar_items_say_why_with_scores_from_0_to_1(library: TestClient) -> None:
    answer = library.get("/v1/items/dragon-0/similar", params={"n": 4}).json()
    assert "user_id" not in answer and answer["item_id"] == "dragon-0"
    for row in answer["data"]:
        assert 0 <= row["score"] <= 1, row
        assert set(row["components"]) == {"cf", "semantic"}
        assert "*The Dragon Egg 0*" in row["explanation"], row["explanation"]
    plain = library.get("/v1/items/dragon-0/similar", params={"n": 4, "explain": False}).json()
    assert all(row["components"] is None and row["explanation"] is None for row in plain["data"])
    assert [row["id"] for row in plain["data"]] == [row["id"] for row in answer["data"]]


def test_cold_start_session_from_interests_text(library: TestClient) -> None:
    response = library.post(
        "/v1/recommendations",
        json={"interests": "rockets, astronauts and the moon", "grade": 2},
        params={"n": 3},
    )
    assert all(item.startswith("space") for item in _ids(response)), response.json()


def test_popular_items_with_window_and_level(library: TestClient) -> None:
    popular = library.get("/v1/items/popular", params={"n": 3}).json()["data"]
    assert popular[0]["readers"] == 5  # dragon-0 and dragon-1 were finished by 4 readers + the new fan
    assert "score" not in popular[0]  # a count, not a 0-1 score
    assert popular[0]["id"] in {"dragon-0", "dragon-1"}
    assert library.get("/v1/items/popular", params={"level_min": 9}).json()["data"] == []
    assert library.get("/v1/items/popular", params={"level_min": 3, "level_max": 1}).status_code == 422


def test_models_are_listed_and_training_needs_an_admin(library: TestClient, anonymous: TestClient) -> None:
    reader = {"Authorization": f"Bearer {READ_KEY}"}
    assert anonymous.post("/v1/models/train", headers=reader).status_code == 403
    trained = library.post("/v1/models/train")
    assert trained.status_code == 201
    assert trained.json()["n_items"] == 10
    second = library.post("/v1/models/train").json()
    assert second["version"] == trained.json()["version"] + 1
    versions = library.get("/v1/models").json()
    assert versions[0]["n_pairs"] == trained.json()["n_pairs"] > 0 and "n_interactions" not in versions[0]
    assert [row["version"] for row in versions][:2] == [second["version"], trained.json()["version"]]
    assert library.get("/v1/users/st-0/recommendations").json()["model_version"] == second["version"]


def _most_at_once(library: TestClient, monkeypatch: pytest.MonkeyPatch, requests: list[str]) -> int:
    """The requests, all at once; how many of them computed a ranked answer at the same time. Each
    still gets its own answer."""
    from nextread.services.recommend import RecommendationService

    running, most = 0, 0
    lock = threading.Lock()

    def counted(original):  # type: ignore[no-untyped-def]
        def computing(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.05)
            try:
                return original(*args, **kwargs)
            finally:
                with lock:
                    running -= 1

        return computing

    for method in ("for_reader", "score_user", "similar_items"):
        monkeypatch.setattr(RecommendationService, method, counted(getattr(RecommendationService, method)))

    def ask(request: str):  # type: ignore[no-untyped-def]
        if request.startswith("POST "):
            return library.post(request.removeprefix("POST "), json={"item_ids": [DRAGONS[0]], "grade": 2})
        return library.get(request)

    with ThreadPoolExecutor(len(requests)) as pool:
        responses = list(pool.map(ask, requests))
    assert [response.status_code for response in responses] == [200] * len(requests)
    personal = [r.json()["user_id"] for q, r in zip(requests, responses, strict=True) if "/users/" in q]
    assert personal == [q.split("/")[3] for q in requests if "/users/" in q]
    return most


PERSONAL_LISTS = [f"/v1/users/st-{reader}/recommendations" for reader in range(8)]
EVERY_RANKED_ANSWER = [
    *PERSONAL_LISTS[:4],
    "POST /v1/recommendations",
    "POST /v1/recommendations?n=3",
    f"/v1/items/{DRAGONS[0]}/similar",
    f"/v1/items/{SPACE[0]}/similar",
    "/v1/groups/class-2a/recommendations",
    "/v1/groups/class-2a/recommendations?n=5",
]


@pytest.mark.parametrize("threads", [1, 2])
def test_computed_lists_queue_for_the_ranking_threads(
    library: TestClient, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    library.app.state.settings.serving.ranking_threads = threads  # type: ignore[attr-defined]
    assert _most_at_once(library, monkeypatch, PERSONAL_LISTS) == threads


def test_every_ranked_answer_queues_for_the_ranking_threads(
    library: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anonymous lists, similar books and class lists rank the catalog too: with one ranking thread
    none of them computes beside another."""
    members = ["st-0", "st-1", "st-4", "st-5"]
    assert (
        library.post("/v1/groups", json={"id": "class-2a", "name": "2A", "members": members}).status_code
        == 201
    )
    library.app.state.settings.serving.ranking_threads = 1  # type: ignore[attr-defined]
    assert _most_at_once(library, monkeypatch, EVERY_RANKED_ANSWER) == 1


def test_a_list_that_may_ask_an_llm_never_holds_a_ranking_thread(
    library: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An LLM answer waits on another service: those requests use the general pool, so one slow
    LLM cannot stall the process's other readers."""
    library.app.state.settings.serving.ranking_threads = 1  # type: ignore[attr-defined]
    assert _most_at_once(library, monkeypatch, [f"{path}?llm=true" for path in PERSONAL_LISTS]) > 1


def test_a_new_process_loads_the_model_and_catalog_before_its_first_request(
    library: TestClient, settings: Settings
) -> None:
    first = library.get("/v1/users/st-0/recommendations").json()  # trains version 1
    (tenant_id,) = library.app.state.recommendations._catalogs  # type: ignore[attr-defined]
    with TestClient(create_app(settings)) as second:
        service = second.app.state.recommendations  # type: ignore[attr-defined]
        artifact = service.registry.fresh(tenant_id)
        assert artifact is not None and artifact.version == first["model_version"]
        assert service._catalogs[tenant_id].version == artifact.version
        second.headers["Authorization"] = f"Bearer {READ_KEY}"
        assert second.get("/v1/users/st-0/recommendations").json()["data"] == first["data"]


def test_a_language_filter_matches_every_way_a_catalogue_writes_it(library: TestClient) -> None:
    """Goodreads exports ISO 639-2 (``eng``); a school asks for ``en``, or writes ``English``."""
    for item_id, language in [
        ("dragon-2", "eng"),
        ("dragon-3", "en-US"),
        ("dragon-4", "fre"),
        ("space-0", "fr"),
    ]:
        assert library.patch(f"/v1/items/{item_id}", json={"language": language}).status_code == 200
    path = "/v1/users/new-dragon-fan/recommendations"
    for asked in ("en", "eng", "English", "EN-gb"):
        assert set(_ids(library.get(path, params={"n": 20, "language": asked}))) == {"dragon-2", "dragon-3"}
    assert set(_ids(library.get(path, params={"n": 20, "language": "fr"}))) == {"dragon-4", "space-0"}
    unknown = library.get(path, params={"language": "zz"})
    assert unknown.status_code == 422 and unknown.json()["detail"].startswith("query.language: ")
