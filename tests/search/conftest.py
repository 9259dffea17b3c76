"""A small catalog with known words, meanings, levels and audiences, posted through the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

BOOKS = [
    {
        "id": "funny-dragon",
        "title": "The Dragon Who Giggled",
        "authors": ["Mia Hart"],
        "description": "A silly, hilarious tale of a dragon who cannot stop laughing at his own jokes.",
        "tags": ["humor", "dragons", "picture-book"],
        "language": "en",
        "lexile": 420,
        "available_copies": 2,
    },
    {
        "id": "dragon-facts",
        "title": "Dragons in Myth and History",
        "authors": ["R. Stone"],
        "description": "A scholarly survey of dragon legends across world cultures for older readers.",
        "tags": ["nonfiction", "dragons"],
        "language": "en",
        "lexile": 1050,
        "available_copies": 1,
    },
    {
        "id": "ocean-pals",
        "title": "Ocean Pals",
        "authors": ["Lee Wong"],
        "description": "Two fish become best friends on a coral reef under the sea.",
        "tags": ["friendship", "animals"],
        "language": "en",
        "guided_reading_level": "F",
        "available_copies": 0,
    },
    {
        "id": "space-cadets",
        "title": "Space Cadets",
        "authors": ["Ana Ruiz"],
        "description": "Kids train as astronauts and fly a rocket to the moon and the planets.",
        "tags": ["science", "adventure"],
        "language": "en",
        "lexile": 620,
        "available_copies": 3,
    },
    {
        "id": "gato",
        "title": "El gato curioso",
        "authors": ["Sofía Luna"],
        "description": "Un gato curioso explora la ciudad y hace nuevos amigos.",
        "tags": ["animals"],
        "language": "es",
        "grade_min": 1,
        "grade_max": 2,
        "available_copies": 1,
    },
    {
        "id": "castle-knight",
        "title": "The Little Knight",
        "authors": ["Tom Reed"],
        "description": "A brave young knight sets off to find a fire-breathing beast in the mountains.",
        "tags": ["fantasy", "adventure"],
        "language": "en",
        "lexile": 480,
        "available_copies": 1,
    },
]


@pytest.fixture
def catalog(client: TestClient) -> TestClient:
    for book in BOOKS:
        response = client.post("/v1/items", json=book)
        assert response.status_code == 201, response.text
    return client
