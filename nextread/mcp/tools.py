"""The librarian's MCP tools: typed inputs and outputs over the same service functions as the REST API.

Every tool runs in one database session scoped to the caller's tenant; anticipated failures (unknown
ids, bad arguments, a read-only key asking to write) come back as tool errors naming the argument, so
an assistant can correct itself instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextread.engine.group_selection import Strategy
from nextread.engine.shaping import CandidateFilter
from nextread.levels.convert import Scale
from nextread.mcp.backend import Backend
from nextread.schemas import ExternalId, QueryTime
from nextread.services import enrich as enrichment
from nextread.services import search as catalog_search
from nextread.services import student_levels
from nextread.services.enrich import EnrichmentResult
from nextread.services.groups import GroupRecommendations, recommend_for_group
from nextread.services.llm_query import search_parser
from nextread.services.llm_recommend import llm_allowed, personal_recommendations
from nextread.services.recommend import RecommendationRequest, Served
from nextread.services.search import SearchFilters, SearchResults
from nextread.services.similar_users import SimilarUser, find_similar_users
from nextread.services.student_levels import StudentLevel
from nextread.store import history as checkout_history
from nextread.store.history import Bucket, CheckoutHistory, HistoryLookupError
from nextread.store.models import Item, User
from nextread.store.tenant_settings import load_tenant_settings
from nextread.store.tenants import Principal
from nextread.store.unknown import unknown

StudentId = Annotated[ExternalId, Field(description="The student's id (external id).")]
BookId = Annotated[ExternalId, Field(description="The book's id (external id).")]
ClassId = Annotated[ExternalId, Field(description="The class's id (group external id).")]
Count = Annotated[int, Field(ge=1, le=50, description="How many books to return.")]
Tags = Annotated[list[str], Field(max_length=20, description="Catalog tags, e.g. ['dragons', 'humor'].")]


class RecommendedBook(BaseModel):
    id: str
    title: str
    authors: list[str]
    score: float = Field(description="0–1; higher is a better fit for this reader.")
    explanation: str | None = Field(description="One plain sentence saying why.")
    components: dict[str, float] = Field(description="The score's parts (cf, reading_match, llm…), 0–1.")


class StudentRecommendations(BaseModel):
    student_id: str
    model_version: int
    ranked_by: str = Field(description="'engine', or 'engine+llm' when the optional LLM re-ranked the list.")
    books: list[RecommendedBook]


class RecommendationExplanation(BaseModel):
    student_id: str
    book_id: str
    title: str
    rank: int | None = Field(description="Rank among this student's candidates (1 = best); None if excluded.")
    candidates: int = Field(description="How many books the student could be recommended.")
    score: float | None
    explanation: str | None
    components: dict[str, float]
    excluded_because: str | None = Field(description="The rule that keeps the book off the list, if any.")


class SimilarStudents(BaseModel):
    student_id: str
    students: list[SimilarUser] = Field(description="Most similar first; only this library's students.")


PrincipalOf = Callable[[Context], Principal]
# query_checkout_history names its filters user/group/item; the tool's arguments say what they are.
HISTORY_ARGUMENTS = {"user": "student_id", "group": "class_id", "item": "book_id"}


@contextmanager
def tool_errors() -> Iterator[None]:
    """Unknown ids and bad arguments are the caller's to fix: say so in the tool result."""
    try:
        yield
    except (LookupError, ValueError) as error:
        raise ToolError(str(error)) from error


def find_student(session: Session, tenant_id: int, student_id: str) -> User:
    user = session.scalar(select(User).where(User.tenant_id == tenant_id, User.external_id == student_id))
    if user is None:
        raise ToolError(f"student_id: {unknown('user', student_id)}")
    return user


def find_book(session: Session, tenant_id: int, book_id: str) -> Item:
    item = session.scalar(select(Item).where(Item.tenant_id == tenant_id, Item.external_id == book_id))
    if item is None:
        raise ToolError(f"book_id: {unknown('item', book_id)}")
    return item


def no_catalog() -> ToolError:
    return ToolError("the catalog is empty: add books before asking for recommendations")


def register_tools(server: MCPServer, backend: Backend, principal_of: PrincipalOf) -> None:
    @server.tool()
    def search_catalog(
        ctx: Context,
        query: Annotated[
            str,
            Field(
                min_length=1,
                max_length=500,
                description='Words or a sentence, e.g. "funny books about dragons for a 2nd grader"; '
                "grade, age, level and language phrases become filters.",
            ),
        ],
        limit: Annotated[int, Field(ge=1, le=100, description="How many books to return.")] = 20,
        grade: Annotated[int | None, Field(ge=0, le=12, description="Reader's grade (K = 0).")] = None,
        level_min: Annotated[
            float | None, Field(ge=-1, le=13, description="Lowest reading level, US grade equivalent.")
        ] = None,
        level_max: Annotated[
            float | None, Field(ge=-1, le=13, description="Highest reading level, US grade equivalent.")
        ] = None,
        tags: Tags | None = None,
        language: Annotated[list[str] | None, Field(description="Language codes, e.g. ['en', 'es'].")] = None,
        available: Annotated[bool | None, Field(description="Only books with a copy on the shelf.")] = None,
        use_llm: Annotated[
            bool,
            Field(
                description="Let the configured LLM read the query into filters (if the school allows it; "
                "students' names are removed first)."
            ),
        ] = False,
    ) -> SearchResults:
        """Search the catalog by words and meaning at once (full text + semantic), with reading-level,
        grade, tag, language and availability filters; explicit filters win over phrases in the query.
        Each hit says whether it matched the words, the meaning, or both."""
        principal = principal_of(ctx)
        with backend.session() as session, tool_errors():
            filters = SearchFilters(
                level_min=level_min,
                level_max=level_max,
                grade=grade,
                tags=tags or [],
                language=language or [],
                available=available,
            )
            llm = backend.llm if use_llm and llm_allowed(session, principal.tenant_id) else None
            school = load_tenant_settings(session, principal.tenant_id)
            return catalog_search.search_catalog(
                session,
                principal.tenant_id,
                query,
                filters,
                limit,
                service=backend.recommendations,
                parser=search_parser(llm, backend.recommendations, session, principal.tenant_id),
                scale=school.level_scale or backend.settings.serving.level_scale,
            )

    @server.tool()
    def get_recommendations_for_student(
        ctx: Context,
        student_id: StudentId,
        n: Count = 10,
        include_tags: Tags | None = None,
        exclude_tags: Tags | None = None,
        available_only: Annotated[bool, Field(description="Only books with a copy on the shelf.")] = True,
        diversity: Annotated[
            float, Field(ge=0, le=1, description="0 = closest fit only, 1 = most varied list.")
        ] = 0.2,
        use_llm: Annotated[
            bool,
            Field(
                description="Let the configured LLM re-rank and re-word the list (only if the school "
                "allows it; it sees aggregated preferences, never the student's name or id)."
            ),
        ] = False,
    ) -> StudentRecommendations:
        """Personal book recommendations for one student: fit to their reading level, their tastes,
        what classmates enjoyed, and what is new and well rated, each with a one-sentence reason.
        Books the student has already read are left out."""
        principal = principal_of(ctx)
        with backend.session() as session, tool_errors():
            user = find_student(session, principal.tenant_id, student_id)
            request = RecommendationRequest(
                n=n,
                diversity=diversity,
                filters=CandidateFilter(
                    include_tags=frozenset(include_tags or ()),
                    exclude_tags=frozenset(exclude_tags or ()),
                    available_only=available_only,
                ),
            )
            llm = backend.llm if use_llm and llm_allowed(session, principal.tenant_id) else None
            served, ranked_by = personal_recommendations(
                backend.recommendations, llm, backend.settings, session, principal.tenant_id, user, request
            )
            if served is None:
                raise no_catalog()
            return StudentRecommendations(
                student_id=student_id,
                model_version=served.artifact.version,
                ranked_by=ranked_by,
                books=_books(session, served),
            )

    @server.tool()
    def explain_recommendation(
        ctx: Context, student_id: StudentId, book_id: BookId
    ) -> RecommendationExplanation:
        """Why a book is (or would be) recommended to a student: its rank among the student's candidates,
        the score's parts and the sentence the list shows; for a book that cannot be on the list
        (already read, no copies, other grades…) the rule that keeps it off."""
        principal = principal_of(ctx)
        with backend.session() as session, tool_errors():
            user = find_student(session, principal.tenant_id, student_id)
            item = find_book(session, principal.tenant_id, book_id)
            found = backend.recommendations.explain_item(
                session, principal.tenant_id, user, item, RecommendationRequest()
            )
            if found is None:
                raise no_catalog()
            rec = found.recommendation
            return RecommendationExplanation(
                student_id=student_id,
                book_id=book_id,
                title=item.title,
                rank=found.rank,
                candidates=found.candidates,
                score=None if rec is None else round(rec.score, 6),
                explanation=None if rec is None else rec.explanation,
                components={} if rec is None else _rounded(rec.components),
                excluded_because=found.excluded_because,
            )

    @server.tool()
    def get_student_reading_level(
        ctx: Context,
        student_id: StudentId,
        scale: Annotated[
            Scale | None, Field(description="Scale to show levels in; default: the school's scale.")
        ] = None,
    ) -> StudentLevel:
        """A student's reading level from their stated level, grade and what they finished, abandoned
        and rated, with a confidence, the evidence, a just-right band and a stretch band."""
        principal = principal_of(ctx)
        with backend.session() as session, tool_errors():
            find_student(session, principal.tenant_id, student_id)  # errors name the tool's argument
            return student_levels.get_student_reading_level(
                session, principal.tenant_id, student_id, scale=scale
            )

    @server.tool()
    def get_book_recommendations_for_group(
        ctx: Context,
        class_id: ClassId,
        n: Annotated[int, Field(ge=1, le=100, description="Books in the list.")] = 20,
        min_per_student: Annotated[
            int, Field(ge=0, le=20, description="Unread books in each student's just-right band.")
        ] = 2,
        strategy: Annotated[Strategy, Field(description="How the class's preferences are combined.")] = (
            "proportional"
        ),
        max_read_share: Annotated[
            float, Field(gt=0, le=1, description="Leave out books this share of the class has read.")
        ] = 0.5,
    ) -> GroupRecommendations:
        """One reading list for a whole class: covers every student's just-right reading band, balances
        what the class likes, avoids books most of them have read, and reports each student's fit."""
        principal = principal_of(ctx)
        with backend.session() as session, tool_errors():
            result = recommend_for_group(
                backend.recommendations,
                session,
                principal.tenant_id,
                class_id,
                n=n,
                min_per_student=min_per_student,
                strategy=strategy,
                max_read_share=max_read_share,
                explain=True,
            )
            if result is None:
                raise no_catalog()
            return result

    @server.tool()
    def find_similar_students(
        ctx: Context,
        student_id: StudentId,
        n: Annotated[int, Field(ge=1, le=50, description="How many students.")] = 10,
    ) -> SimilarStudents:
        """Students in this library who read like this one (books in common, then reading level): for
        book clubs, reading buddies, or "what did readers like this enjoy?"."""
        principal = principal_of(ctx)
        with backend.session() as session, tool_errors():
            user = find_student(session, principal.tenant_id, student_id)
            similar = find_similar_users(session, principal.tenant_id, user, n)
            return SimilarStudents(student_id=student_id, students=similar)

    @server.tool()
    def query_checkout_history(
        ctx: Context,
        student_id: Annotated[ExternalId | None, Field(description="Only this student's events.")] = None,
        class_id: Annotated[
            ExternalId | None, Field(description="Only this class's students' events.")
        ] = None,
        book_id: Annotated[ExternalId | None, Field(description="Only this book's events.")] = None,
        since: Annotated[QueryTime, Field(description="From this time on (ISO-8601).")] = None,
        until: Annotated[QueryTime, Field(description="Before this time (ISO-8601).")] = None,
        types: Annotated[
            list[str], Field(min_length=1, max_length=20, description="Interaction types, e.g. checkout.")
        ] = ["checkout"],  # noqa: B006 - pydantic copies defaults
        bucket: Annotated[Bucket, Field(description="Trend period.")] = "week",
        limit: Annotated[int, Field(ge=1, le=200, description="Events per page, newest first.")] = 50,
        cursor: Annotated[str | None, Field(description="next_cursor of the previous page.")] = None,
    ) -> CheckoutHistory:
        """Who read what and when, for a student, a class, a book or the whole library, in a time
        window: totals, a trend per day/week/month, top books and tags, tags over time, and the events."""
        principal = principal_of(ctx)
        with backend.session() as session:
            try:
                return checkout_history.query_checkout_history(
                    session,
                    principal.tenant_id,
                    user=student_id,
                    group=class_id,
                    item=book_id,
                    since=since,
                    until=until,
                    types=[kind.strip().lower() for kind in types],
                    bucket=bucket,
                    limit=limit,
                    cursor=cursor,
                )
            except HistoryLookupError as error:
                argument = HISTORY_ARGUMENTS[error.field]
                raise ToolError(f"{argument}: {str(error).split(': ', 1)[1]}") from error
            except ValueError as error:
                raise ToolError(str(error)) from error

    @server.tool()
    def enrich_book_metadata(ctx: Context, book_id: BookId) -> EnrichmentResult:
        """Fill a book's missing description, subjects, page count and cover from Open Library (never
        overwrites a value the library entered). Needs an admin key and enrichment turned on."""
        principal = principal_of(ctx)
        if not principal.can_write:
            raise ToolError("enrich_book_metadata changes the catalog: it needs an admin API key")
        with backend.session() as session, tool_errors():
            find_book(session, principal.tenant_id, book_id)
            try:
                result = enrichment.enrich_book_metadata(
                    session, principal.tenant_id, book_id, backend.settings
                )
            except enrichment.EnrichmentDisabledError as error:
                raise ToolError(str(error)) from error
            if result.errors and not result.filled:
                raise ToolError("Open Library lookup failed: " + "; ".join(result.errors))
            return result


def _rounded(components: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 4) for name, value in components.items()}


def _books(session: Session, served: Served) -> list[RecommendedBook]:
    pks = [int(served.artifact.item_pks[rec.item_index]) for rec in served.results]
    items = {item.id: item for item in session.scalars(select(Item).where(Item.id.in_(pks)))}
    return [
        RecommendedBook(
            id=items[pk].external_id,
            title=items[pk].title,
            authors=items[pk].authors or [],
            score=round(rec.score, 6),
            explanation=rec.explanation or None,
            components=_rounded(rec.components),
        )
        for rec, pk in zip(served.results, pks, strict=True)
        if pk in items
    ]
