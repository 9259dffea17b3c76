"""What the MCP tools run against: the same settings, database sessions, recommendation service and
LLM client as the REST API, so a tool and its endpoint can never disagree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from mcp.server.mcpserver.exceptions import ToolError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from nextread.cache.backends import open_backend
from nextread.config import Settings
from nextread.embed.select import text_embedding_function
from nextread.llm.client import LLMClient
from nextread.services.recommend import RecommendationService
from nextread.services.registry import ModelRegistry
from nextread.store.db import (
    database_failure,
    make_engine,
    make_session_factory,
    session_scope,
    upgrade,
)


@dataclass
class Backend:
    settings: Settings
    session_factory: sessionmaker[Session]
    recommendations: RecommendationService
    llm: LLMClient | None

    @classmethod
    def of_app(cls, app: FastAPI) -> Backend:
        """The API process's own objects (the mounted ``/mcp`` endpoint)."""
        state = app.state
        return cls(state.settings, state.session_factory, state.recommendations, state.llm)

    @classmethod
    def standalone(cls, settings: Settings) -> Backend:
        """Everything ``nextread mcp`` needs on its own, built the way the API builds it."""
        engine = make_engine(settings.store.database_url)
        upgrade(engine)
        session_factory = make_session_factory(engine)
        service = RecommendationService(
            ModelRegistry(session_factory, settings), embed_text=text_embedding_function(settings)
        )
        llm = LLMClient.from_settings(
            settings, cache=open_backend(settings.cache.cache_url, settings.cache.cache_max_entries)
        )
        return cls(settings, session_factory, service, llm)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A tool's unit of work, committed before the tool answers; a failed statement or commit
        becomes the tool's error, in the words the REST API uses."""
        try:
            with session_scope(self.session_factory) as session:
                yield session
        except DBAPIError as exc:
            raise ToolError(database_failure(exc).message) from exc
