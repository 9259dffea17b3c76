"""Real processes for the pipeline tests: ``nextread serve`` and ``nextread worker`` subprocesses, a
private ``redis-server`` that can be killed and restarted, a TCP proxy that can cut PostgreSQL off, and
a fresh PostgreSQL database per test. Everything listens on free ports of 127.0.0.1, so concurrent test
runs never meet."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import Engine, create_engine, text

from tests.conftest import ADMIN_KEY, POSTGRES_ADMIN_URL, require_service

STARTUP_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except Exception:  # noqa: BLE001 - a probe that cannot answer yet is "not yet"
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class RedisServer:
    """A private Redis with an append-only file synced on every write: killed and started again on the
    same port, it comes back with its streams and consumer groups, like a production Redis would.
    With ``persistent=False`` it keeps nothing (``--appendonly no``): a restart empties it."""

    def __init__(self, directory: Path, persistent: bool = True) -> None:
        if shutil.which("redis-server") is None:
            require_service("redis-server", "the binary is not on PATH")
        self.port = free_port()
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.persistent = persistent

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir"]
        if self.persistent:
            arguments += [str(self.directory), "--appendonly", "yes", "--appendfsync", "always"]
        else:
            arguments += [str(self.directory), "--appendonly", "no"]
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(["redis-server", *arguments], stdout=log, stderr=log)
        client = redis.Redis.from_url(self.url(), socket_connect_timeout=0.5)
        wait_until(client.ping, 20, f"redis-server on port {self.port}")
        client.close()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class Proc:
    """A nextread subprocess whose output goes to a log file (shown when a test fails)."""

    def __init__(self, name: str, arguments: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nextread", *arguments],
            env=env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            self.process.send_signal(signum)

    def stop(self, timeout: float = 30.0) -> int | None:
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-12000:]


@dataclass
class Stack:
    """One deployment under test: its settings (as environment), processes and helpers."""

    env: dict[str, str]
    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def run(self, *arguments: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "nextread", *arguments],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def api(self, name: str, **settings: str) -> Api:
        port = free_port()
        proc = Proc(name, ["serve", "--port", str(port)], self._env(settings), self.log_dir)
        self.procs.append(proc)
        api = Api(proc, f"http://127.0.0.1:{port}")
        wait_until(lambda: api.get("/healthz").status_code == 200 or not proc.alive(), STARTUP_SECONDS, name)
        assert proc.alive(), proc.log()
        return api

    def worker(self, name: str, concurrency: int = 1, **settings: str) -> Proc:
        arguments = ["worker", "--consumer", name, "--concurrency", str(concurrency)]
        proc = Proc(name, arguments, self._env(settings), self.log_dir)
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {proc.name} ---\n{proc.log()}" for proc in self.procs)

    def dump_stacks(self) -> None:
        """Ask every live process for its tasks' and threads' stacks (nextread's SIGUSR1 handler)."""
        for proc in self.procs:
            proc.signal(signal.SIGUSR1)
        time.sleep(1.0)

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()

    def _env(self, settings: dict[str, str]) -> dict[str, str]:
        return self.env | {f"NEXTREAD_{name.upper()}": value for name, value in settings.items()}


@dataclass
class Api:
    proc: Proc
    base_url: str

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)

    def post(self, path: str, payload: Any) -> httpx.Response:
        return self.client.post(path, json=payload)


@contextmanager
def fresh_postgres(request: pytest.FixtureRequest) -> Iterator[tuple[str, Engine]]:
    """A fresh migrated PostgreSQL database (URL for the processes, engine for the test's checks)."""
    template = request.getfixturevalue("_postgres_template")
    name = f"nextread_proc_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    try:
        yield url, engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Deployment:
    """PostgreSQL database + private Redis + the processes a test starts."""

    database_url: str
    engine: Engine
    redis: RedisServer
    stack: Stack

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()


@contextmanager
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, redis_persistent: bool = True, **settings: str
) -> Iterator[Deployment]:
    """Processes get the Redis bus and cache unless ``settings`` say otherwise; on failure the test
    report shows every process's log."""
    with fresh_postgres(request) as (url, engine):
        server = RedisServer(tmp_path / "redis", persistent=redis_persistent)
        server.start()
        options = {"event_bus_url": server.url(0), "cache_url": server.url(1)} | settings
        stack = Stack(base_env(url, tmp_path / "data", **options), tmp_path)
        try:
            yield Deployment(url, engine, server, stack)
        except BaseException:
            stack.dump_stacks()
            print(stack.logs())
            print(_state(engine, server))
            raise
        finally:
            stack.stop_all()
            server.kill()


def _state(engine: Engine, server: RedisServer) -> str:
    """What the database's sessions wait on and where the bus's consumer groups stand, for a failure
    report: a hang shows up as a lock wait, an idle transaction or a group that stopped reading."""
    lines = ["--- postgresql sessions ---"]
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT pid, state, wait_event_type, wait_event, now() - xact_start AS xact_age,"
                    " left(query, 120) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            lines += [" | ".join(str(value) for value in row) for row in rows]
    except Exception as exc:  # noqa: BLE001 - a report must not hide the failure it reports on
        lines.append(f"unavailable: {exc}")
    lines.append("--- redis ---")
    try:
        client = redis.Redis.from_url(server.url(), socket_timeout=2)
        for stream in client.scan_iter(_type="stream"):
            lines.append(f"{stream!r}: length {client.xlen(stream)}, groups {client.xinfo_groups(stream)}")
        client.close()
    except Exception as exc:  # noqa: BLE001
        lines.append(f"unavailable: {exc}")
    return "\n".join(lines)


def base_env(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEXTREAD_")}
    env |= {
        "NEXTREAD_DATABASE_URL": database_url,
        "NEXTREAD_DATA_DIR": str(data_dir),
        "NEXTREAD_ADMIN_API_KEY": ADMIN_KEY,
        "NEXTREAD_LOG_FORMAT": "console",
        "NEXTREAD_LOG_LEVEL": "WARNING",
        "OPENBLAS_NUM_THREADS": "1",
    }
    return env | {f"NEXTREAD_{name.upper()}": value for name, value in settings.items()}


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a server; ``cut()`` drops every connection and refuses new ones
    (the database is unreachable), ``restore()`` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown() first: close() alone does not wake a thread blocked in accept(), and the
            # socket would go on accepting connections.
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for connection in self._connections:
                _close(connection)
            self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    _close(source)
    _close(sink)


def _close(connection: socket.socket) -> None:
    with suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()
