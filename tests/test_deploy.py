"""Deployment files stay true to the code: every NEXTREAD_* variable they set is a real setting, every
probe hits a real route, every command they run is a real CLI command with real options.
(The files are parsed, never built or applied.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from fastapi.testclient import TestClient

from nextread.app import create_app
from nextread.cli import app as cli_app
from nextread.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
MANIFESTS = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
SETTING = re.compile(r"NEXTREAD_[A-Z0-9_]+")


def _documents() -> list[tuple[str, Any]]:
    documents = [(COMPOSE.name, yaml.safe_load(COMPOSE.read_text()))]
    for path in MANIFESTS:
        documents += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def _strings(node: Any) -> Iterator[str]:
    """Every key and scalar value, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif node is not None:
        yield str(node)


def _containers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    spec = manifest["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def _deployments() -> list[dict[str, Any]]:
    return [doc for _, doc in _documents() if isinstance(doc, dict) and doc.get("kind") == "Deployment"]


def _nextread_commands() -> list[list[str]]:
    commands = [json.loads(re.search(r"^CMD (\[.*\])$", DOCKERFILE.read_text(), re.M).group(1))]  # type: ignore[union-attr]
    compose = yaml.safe_load(COMPOSE.read_text())
    commands += [
        svc["command"] for svc in compose["services"].values() if svc.get("image") == "nextread:latest"
    ]
    for deployment in _deployments():
        commands += [container["command"] for container in _containers(deployment)]
    return commands


def test_files_parse_and_hold_the_expected_services() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"postgres", "redis", "api", "worker", "kafka"} <= compose.keys()
    assert compose["api"]["deploy"]["replicas"] == 2
    assert compose["worker"]["deploy"]["replicas"] == 2
    assert compose["kafka"]["profiles"] == ["kafka"]
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in _documents()[1:] if "metadata" in doc}
    assert {
        ("Deployment", "nextread-api"),
        ("Deployment", "nextread-worker"),
        ("Service", "nextread-api"),
    } <= kinds
    assert {("ConfigMap", "nextread-settings"), ("Secret", "nextread-secrets")} <= kinds


@pytest.mark.parametrize("name", [COMPOSE.name, *(path.name for path in MANIFESTS)])
def test_every_nextread_variable_is_a_setting(name: str) -> None:
    known = {f"NEXTREAD_{field.upper()}" for field in Settings.variables()}
    used = {
        variable
        for source, document in _documents()
        if source == name
        for text in _strings(document)
        for variable in SETTING.findall(text)
    }
    assert used - known == set()


def test_every_setting_the_dockerfile_sets_exists() -> None:
    known = {f"NEXTREAD_{field.upper()}" for field in Settings.variables()}
    assert set(SETTING.findall(DOCKERFILE.read_text())) - known == set()


def test_probes_and_healthchecks_answer_200(tmp_path: Path) -> None:
    api = next(d for d in _deployments() if d["metadata"]["name"] == "nextread-api")
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"][0]["containerPort"] == int(container["command"][-1])
    paths = {
        container[probe]["httpGet"]["path"]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe")
        if probe in container
    }
    paths |= set(re.findall(r"http://127\.0\.0\.1:8000(/\w+)", DOCKERFILE.read_text()))
    settings = Settings(data_dir=tmp_path, log_level="WARNING", scheduler_enabled=False)
    with TestClient(create_app(settings)) as client:
        assert {path: client.get(path).status_code for path in paths} == dict.fromkeys(paths, 200)


@pytest.mark.parametrize("command", _nextread_commands(), ids=" ".join)
def test_every_command_exists_in_the_cli(command: list[str]) -> None:
    """Resolve the sub-commands, then let click parse the options (an unknown one fails)."""
    assert command[0] == "nextread"
    group = typer.main.get_command(cli_app)
    context = group.make_context("nextread", [], resilient_parsing=True)
    words = command[1:]
    node: Any = group
    while hasattr(node, "get_command") and words and not words[0].startswith("-"):
        found = node.get_command(context, words[0])
        assert found is not None, f"no command {words[0]!r} in {' '.join(command)}"
        node, words = found, words[1:]
    assert not hasattr(node, "get_command") or node.invoke_without_command, f"{command} names a group"
    node.make_context(node.name, list(words))
