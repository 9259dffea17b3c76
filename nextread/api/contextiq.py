"""The Context IQ API shape at ``/api/v1``, over the same services, store and API keys as ``/v1``.

Many recommendation demos copy Context IQ's five routes (health, interact, recommendations,
user-profile, content); a client written for them works here with an ``Authorization: Bearer <key>``
header added. This module only parses, calls what the ``/v1`` routes call and shapes the answer:
content is items, a category is a tag (:mod:`nextread.store.browse`), Context IQ's four interaction
types are nextread's built-in types of the same names and ``duration_seconds`` is stored as the
interaction's ``value``. docs/context-iq.md has the full mapping.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from nextread import __version__
from nextread.api.deps import AdminDep, ReaderDep, SessionDep, SettingsDep, on_ranking_thread
from nextread.api.errors import problems
from nextread.schemas import ExternalId, InteractionIn, JsonObject, ShortText, Strict
from nextread.services.event_pipeline import EventPipeline
from nextread.services.interactions import record_interaction
from nextread.services.recommend import RecommendationRequest, Served
from nextread.services.records import find_user
from nextread.store.browse import Content, item_tags, items_in_category, user_activity
from nextread.store.db import database_answers
from nextread.store.unknown import UnknownIdError

router = APIRouter(prefix="/api/v1", tags=["context-iq"])

InteractionType = Literal["view", "like", "save", "share"]
CONTEXT_IQ_TYPES: tuple[str, ...] = ("view", "like", "save", "share")
# A single view, like, save or share lasting over a day is a unit mistake (milliseconds) far more
# often than a real one.
MAX_DURATION_SECONDS = 86_400
TOP_CATEGORIES = 5
# The interactions service names nextread's fields; this API calls the item a content.
FIELD_NAMES = {"item_id": "content_id", "user_id": "user_id"}


class InteractIn(Strict):
    user_id: ExternalId = Field(description="Unknown users are created (`NEXTREAD_AUTO_CREATE_USERS`).")
    content_id: ExternalId = Field(description="An item id (`/v1/items`).")
    interaction_type: InteractionType = Field(description="Stored as the nextread type of the same name.")
    duration_seconds: float = Field(
        0,
        ge=0,
        le=MAX_DURATION_SECONDS,
        allow_inf_nan=False,
        description="Time spent on the content; stored as the interaction's `value`.",
    )
    metadata: JsonObject | None = Field(None, description="Accepted for compatibility; not stored.")


class InteractOut(BaseModel):
    status: Literal["success"] = "success"
    message: str
    interaction_id: str = Field(description="The stored interaction's `event_id`.")


class HealthOut(BaseModel):
    status: Literal["healthy", "degraded"] = Field(description="`degraded` when any service is down.")
    version: str
    services: dict[str, bool] = Field(description="`database`, and `event_bus` once the app has started.")
    timestamp: datetime


class RecommendationOut(BaseModel):
    content_id: str
    title: str
    category: str | None = Field(description="The item's first tag.")
    score: float = Field(description="How well it fits, from 0 to 1; the list is in descending order.")
    ml_score: float = Field(description="The engine's score: the same number as `score`.")
    llm_score: float | None = Field(description="Always null: this route never asks an LLM.")
    combined_score: float = Field(description="The same number as `score`.")


class RecommendationsOut(BaseModel):
    user_id: str
    recommendations: list[RecommendationOut]
    cached: bool = Field(description="Always false: this route computes every answer.")
    timestamp: datetime


class CategoryCount(BaseModel):
    category: str
    count: int = Field(description="The user's interactions with items of this category.")


class UserProfileOut(BaseModel):
    user_id: str
    total_interactions: int
    interaction_breakdown: dict[str, int] = Field(description="Interactions by type, of every type.")
    top_categories: list[CategoryCount] = Field(description="At most five, most interactions first.")
    first_interaction_at: datetime | None
    last_interaction_at: datetime | None
    total_duration_seconds: float = Field(description="Sum of the view, like, save and share durations.")
    cached: bool = Field(description="Always false: every profile is counted on request.")


class ContentOut(BaseModel):
    content_id: str
    title: str
    category: str | None = Field(description="The tag the `category` filter matched, else the first tag.")
    description: str | None
    tags: list[str]
    created_at: datetime


class ContentListOut(BaseModel):
    content: list[ContentOut] = Field(description="Newest first.")
    count: int


@router.get("/health", response_model=HealthOut, summary="Context IQ: health of the database and event bus")
async def health(request: Request) -> HealthOut:
    """No API key needed, like ``/healthz``: it tells nothing about any tenant."""
    services = {"database": await asyncio.to_thread(database_answers, request.app.state.engine)}
    pipeline = getattr(request.app.state, "events", None)
    if pipeline is not None:
        services["event_bus"] = services["database"] and await _bus_answers(pipeline)
    return HealthOut(
        status="healthy" if all(services.values()) else "degraded",
        version=__version__,
        services=services,
        timestamp=datetime.now(UTC),
    )


async def _bus_answers(pipeline: EventPipeline) -> bool:
    try:
        return (await pipeline.status()).ok
    except Exception:  # noqa: BLE001 - a status that cannot be read is a degraded bus
        return False


@router.post(
    "/interact",
    response_model=InteractOut,
    status_code=201,
    summary="Context IQ: record a view, like, save or share (404 for an unknown content_id)",
    responses=problems(404),
)
def interact(
    body: InteractIn, request: Request, session: SessionDep, principal: AdminDep, settings: SettingsDep
) -> InteractOut:
    event = InteractionIn(
        user_id=body.user_id,
        item_id=body.content_id,
        type=body.interaction_type,
        value=body.duration_seconds,
        event_id=uuid.uuid4().hex,  # every call is a new interaction, as in Context IQ
    )
    try:
        record_interaction(session, request.app.state.cache, settings, principal, event)
    except UnknownIdError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{FIELD_NAMES[exc.field]}: {exc.reason}") from None
    return InteractOut(message="interaction recorded", interaction_id=event.event_id)


@router.get(
    "/recommendations",
    response_model=RecommendationsOut,
    summary="Context IQ: a user's recommendations, best first, scores from 0 to 1",
    responses=problems(404),
)
async def recommendations(
    request: Request,
    session: SessionDep,
    principal: ReaderDep,
    user_id: Annotated[str, Query(description="A user id (404 if unknown).")],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> RecommendationsOut:
    """The list ``GET /v1/users/{user_id}/recommendations?n={limit}&diversity=0`` gives: Context IQ
    lists by descending score, so the engine's pure-relevance order is asked for. Computed on one of
    the process's ranking threads, as that route is."""
    compute = partial(_recommendations, request, session, principal.tenant_id, user_id, limit)
    return await on_ranking_thread(request, compute)


def _recommendations(
    request: Request, session: Session, tenant_id: int, user_id: str, limit: int
) -> RecommendationsOut:
    user = find_user(session, tenant_id, user_id)
    served = request.app.state.recommendations.for_user(
        session, tenant_id, user, RecommendationRequest(n=limit, diversity=0.0)
    )
    listed = [] if served is None else _recommended(session, served)  # None: an empty catalog
    return RecommendationsOut(
        user_id=user_id, recommendations=listed, cached=False, timestamp=datetime.now(UTC)
    )


def _recommended(session: Session, served: Served) -> list[RecommendationOut]:
    """Items deleted since the served catalog was built are left out, as ``/v1`` leaves them out."""
    catalog = served.catalog
    results = [rec for rec in served.results if catalog.present[rec.item_index]]
    pks = [int(served.artifact.item_pks[rec.item_index]) for rec in results]
    tags = item_tags(session, pks)
    listed = []
    for rec, pk in zip(results, pks, strict=True):
        card = catalog.cards[rec.item_index]
        score = _unit_score(rec.score)
        listed.append(
            RecommendationOut(
                content_id=card.external_id,
                title=card.title,
                category=next(iter(tags.get(pk, [])), None),
                score=score,
                ml_score=score,
                llm_score=None,
                combined_score=score,
            )
        )
    return listed


def _unit_score(score: float) -> float:
    """The engine's score is a weighted mean of signals that each lie in [0, 1], so it is one
    already; the clamp only keeps the rounding of that mean from landing a hair outside."""
    return min(max(round(score, 6), 0.0), 1.0)


@router.get(
    "/user-profile/{user_id}",
    response_model=UserProfileOut,
    summary="Context IQ: a user's interaction statistics",
)
def user_profile(user_id: str, session: SessionDep, principal: ReaderDep) -> UserProfileOut:
    user = find_user(session, principal.tenant_id, user_id)
    activity = user_activity(session, principal.tenant_id, user.id, CONTEXT_IQ_TYPES)
    top = sorted(activity.tag_counts.items(), key=lambda pair: (-pair[1], pair[0]))[:TOP_CATEGORIES]
    return UserProfileOut(
        user_id=user_id,
        total_interactions=activity.total,
        interaction_breakdown=activity.counts_by_type,
        top_categories=[CategoryCount(category=tag, count=count) for tag, count in top],
        first_interaction_at=activity.first_at,
        last_interaction_at=activity.last_at,
        total_duration_seconds=activity.value_total,
        cached=False,
    )


@router.get("/content", response_model=ContentListOut, summary="Context IQ: list content, by category")
def content(
    session: SessionDep,
    principal: ReaderDep,
    category: Annotated[ShortText | None, Query(description="A tag, any case; empty: all.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ContentListOut:
    items = items_in_category(session, principal.tenant_id, category, limit)
    listed = [_content(item, category) for item in items]
    return ContentListOut(content=listed, count=len(listed))


def _content(item: Content, category: str | None) -> ContentOut:
    tags = item.tags
    wanted = category.lower() if category else None
    return ContentOut(
        content_id=item.external_id,
        title=item.title,
        category=next((tag for tag in tags if tag.lower() == wanted), next(iter(tags), None)),
        description=item.description,
        tags=tags,
        created_at=item.created_at,
    )
