"""The demo command's setup path end to end: migrate, load the bundled school, keys, then serve it,
saying each step as it goes (the first start takes minutes and must not look stuck)."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time

import httpx
from fastapi.testclient import TestClient

from nextread.app import create_app
from nextread.cli import prepare_demo
from nextread.config import Settings


def _steps(output: str) -> list[str]:
    """The first word of every ``==> …`` line."""
    return [line.split()[1] for line in output.splitlines() if line.startswith("==> ")]


def test_demo_loads_once_and_serves(settings: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"admin_api_key": "", "read_api_key": ""})
    counts, keys = prepare_demo(settings)
    first = capsys.readouterr().out
    assert _steps(first) == ["migrating", "loading", "training"]
    assert first.count("done in ") == 3
    assert f"loaded {counts['items']} items, {counts['users']} users" in first
    assert "trained version 1:" in first
    assert counts["items"] >= 200
    assert counts["users"] >= 100
    assert counts["groups"] == 6
    assert counts["interactions"] >= 2000
    stored_keys = json.loads((settings.store.data_dir / "demo-keys.json").read_text())
    assert stored_keys == keys

    again, same_keys = prepare_demo(settings)
    assert again == {}
    assert same_keys == keys
    second = capsys.readouterr().out
    assert _steps(second) == ["migrating", "loading"]
    assert "already holds data" in second

    with TestClient(create_app(settings)) as client:
        reader = {"Authorization": f"Bearer {keys['read']}"}
        items = client.get("/v1/items", params={"limit": 5}, headers=reader).json()
        assert len(items["data"]) == 5
        assert items["next_cursor"] is not None
        student = client.get("/v1/users", params={"limit": 1}, headers=reader).json()["data"][0]
        history = client.get(f"/v1/users/{student['id']}/history", headers=reader).json()["data"]
        assert history, "demo students have reading history"
        profile = client.get(f"/v1/users/{student['id']}/profile", headers=reader).json()
        assert profile["interactions"] >= len(history)
        classes = client.get("/v1/groups", headers=reader).json()["data"]
        assert sum(len(group["members"]) for group in classes) == counts["users"]
        recommended = client.get(f"/v1/users/{student['id']}/recommendations", headers=reader).json()
        assert recommended["model_version"] == 1
        assert len(recommended["data"]) == 10
        assert all(row["explanation"] for row in recommended["data"])
        write = client.post("/v1/items", json={"id": "x", "title": "x"}, headers=reader)
        assert write.status_code == 403
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        assert client.post("/v1/items", json={"id": "x", "title": "x"}, headers=admin).status_code == 201

    _demo_command_announces_the_server_once_it_answers(settings, keys)


def _demo_command_announces_the_server_once_it_answers(settings: Settings, keys: dict[str, str]) -> None:
    """``nextread demo`` on the school prepared above: the links and keys come once the server answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "NEXTREAD_DATA_DIR": str(settings.store.data_dir),
        "NEXTREAD_DATABASE_URL": settings.store.database_url,
        "NEXTREAD_LOG_LEVEL": "WARNING",
        "NEXTREAD_SCHEDULER_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "nextread", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = _read_until(process, "read-only key:", seconds=180)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200, "announced before it answers"
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert _steps(output) == ["migrating", "loading", "starting"]
    assert "ready in " in output
    assert f"{base}/docs" in output
    assert keys["read"] in output


def _read_until(process: subprocess.Popen[str], marker: str, seconds: float) -> str:
    """The process's output up to the first line holding ``marker``; fails after ``seconds``."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while not any(marker in line for line in seen):
        assert time.monotonic() < deadline, "".join(seen)
        try:
            seen.append(lines.get(timeout=1))
        except queue.Empty:
            assert process.poll() is None, "".join(seen)
    return "".join(seen)
