"""A small hand-made school shared by the MCP and LLM tests: two shelves (dragons, space), eight
students who each read one shelf, one class, and a dragon fan with a name, interests and a history,
which is the student whose privacy the LLM tests check."""

from __future__ import annotations

from fastapi.testclient import TestClient

DRAGONS = [f"dragon-{n}" for n in range(6)]
SPACE = [f"space-{n}" for n in range(6)]
FAN = "stu-dragon-fan"
FAN_NAME = "Zelda Quixote-Marlowe"
FAN_INTERESTS = "Zelda loves dragons and castles, and her dog Biscuit; she is scared of the dark"
CLASS = "class-2b"


def _book(item_id: str, n: int, title: str, tags: list[str], description: str) -> dict[str, object]:
    return {
        "id": item_id,
        "title": f"{title} {n}",
        "authors": ["Ada Quill"],
        "tags": tags,
        "description": description,
        "lexile": 300 + 20 * n,
        "grade_min": 1,
        "grade_max": 3,
        "available_copies": 2,
    }


def build_school(client: TestClient) -> None:
    for n, item_id in enumerate(DRAGONS):
        book = _book(item_id, n, "The Dragon Egg", ["dragons", "fantasy"], "A young dragon learns to fly.")
        assert client.post("/v1/items", json=book).status_code == 201
    for n, item_id in enumerate(SPACE):
        book = _book(item_id, n, "Rocket Kids", ["space", "science"], "Astronauts fly to the moon.")
        assert client.post("/v1/items", json=book).status_code == 201
    events = []
    for reader in range(8):
        shelf = DRAGONS if reader < 4 else SPACE
        client.post("/v1/users", json={"id": f"st-{reader}", "grade": 2, "display_name": f"Kid {reader}"})
        events += [{"user_id": f"st-{reader}", "item_id": item, "type": "finished"} for item in shelf[:4]]
    fan = {"id": FAN, "grade": 2, "lexile": 350, "display_name": FAN_NAME, "interests": FAN_INTERESTS}
    assert client.post("/v1/users", json=fan).status_code == 201
    events += [{"user_id": FAN, "item_id": item, "type": "finished"} for item in DRAGONS[:2]]
    events.append({"user_id": FAN, "item_id": SPACE[5], "type": "abandoned"})
    assert client.post("/v1/interactions/batch", json=events).json()["rejected"] == []
    members = [FAN, *(f"st-{reader}" for reader in range(8))]
    group = {"id": CLASS, "name": "Ms. Rivera's 2nd Grade", "members": members}
    assert client.post("/v1/groups", json=group).status_code == 201
