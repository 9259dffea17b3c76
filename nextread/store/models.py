"""The relational schema. Every domain row belongs to a tenant so one database can host a whole district.

Rows are addressed from outside by ``external_id`` (unique per tenant); integer primary keys stay internal
so that interactions are compact and joins are cheap on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only auto-increments an INTEGER PRIMARY KEY, so big keys fall back to Integer there.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# JSONB on PostgreSQL: it has equality, which upserts need to detect unchanged rows.
Json = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC and always returns aware UTC, so SQLite and PostgreSQL compare the same way."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: Json, list[str]: Json}


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """Only a SHA-256 of the key is kept: a leaked database does not leak working keys."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("tenant_id", "external_id", name="uq_items_tenant_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(1000))
    authors: Mapped[list[str]] = mapped_column(default=list)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    isbn: Mapped[str | None] = mapped_column(String(20), default=None)
    tags: Mapped[list[str]] = mapped_column(default=list)
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    publication_year: Mapped[int | None] = mapped_column(default=None)
    average_rating: Mapped[float | None] = mapped_column(default=None)
    ratings_count: Mapped[int | None] = mapped_column(default=None)
    lexile: Mapped[int | None] = mapped_column(default=None)
    guided_reading_level: Mapped[str | None] = mapped_column(String(2), default=None)
    grade_min: Mapped[int | None] = mapped_column(default=None)
    grade_max: Mapped[int | None] = mapped_column(default=None)
    age_min: Mapped[int | None] = mapped_column(default=None)
    age_max: Mapped[int | None] = mapped_column(default=None)
    # A level *estimated* by nextread.services.level_estimates for a book without a given one
    # (grade-equivalent scale, K = 0): kept apart from the given levels above, which it never overwrites.
    estimated_level: Mapped[float | None] = mapped_column(Float, default=None)
    estimated_level_confidence: Mapped[float | None] = mapped_column(Float, default=None)
    estimated_level_evidence: Mapped[list[str] | None] = mapped_column(default=None)
    series_name: Mapped[str | None] = mapped_column(String(255), default=None)
    series_position: Mapped[float | None] = mapped_column(default=None)
    page_count: Mapped[int | None] = mapped_column(default=None)
    cover_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    staff_pick: Mapped[bool] = mapped_column(Boolean, default=False)
    available_copies: Mapped[int | None] = mapped_column(default=None)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "external_id", name="uq_users_tenant_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255), default=None)
    grade: Mapped[int | None] = mapped_column(default=None)
    lexile: Mapped[int | None] = mapped_column(default=None)
    guided_reading_level: Mapped[str | None] = mapped_column(String(2), default=None)
    interests: Mapped[str | None] = mapped_column(Text, default=None)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Group(Base):
    """A class, reading club or any other set of users."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("tenant_id", "external_id", name="uq_groups_tenant_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32), default="class")
    grade: Mapped[int | None] = mapped_column(default=None)
    teacher: Mapped[str | None] = mapped_column(String(255), default=None)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    members: Mapped[list[GroupMember]] = relationship(
        back_populates="group", cascade="all, delete-orphan", passive_deletes=True
    )


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(32), default="student")

    group: Mapped[Group] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class Interaction(Base):
    """One event. ``event_id`` is the idempotency key: a replayed event or re-imported row is a no-op."""

    __tablename__ = "interactions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_id", name="uq_interactions_tenant_event"),
        Index("ix_interactions_user_time", "tenant_id", "user_id", "occurred_at"),
        Index("ix_interactions_item", "tenant_id", "item_id"),
        Index("ix_interactions_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float, default=None)
    occurred_at: Mapped[datetime] = mapped_column()
    event_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InteractionTypeWeight(Base):
    """How much one event of a type says about taste. ``positive`` marks types that count as a "like"
    when feedback is binarised (offline evaluation, popularity)."""

    __tablename__ = "interaction_type_weights"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), primary_key=True)
    weight: Mapped[float] = mapped_column(Float)
    positive: Mapped[bool] = mapped_column(Boolean, default=True)


BUILTIN_INTERACTION_TYPES = (
    "checkout",
    "return",
    "view",
    "like",
    "save",
    "share",
    "rating",
    "finished",
    "abandoned",
    "dismiss",
)

# A rating's weight is multiplied by (value - 3) / 2, so 5 stars = +weight and 1 star = -weight.
DEFAULT_TYPE_WEIGHTS: dict[str, tuple[float, bool]] = {
    "checkout": (3.0, True),
    "finished": (4.0, True),
    "rating": (4.0, True),
    "like": (2.0, True),
    "save": (1.5, True),
    "share": (2.0, True),
    "view": (0.5, False),
    "return": (0.0, False),
    "abandoned": (-2.0, False),
    "dismiss": (-1.0, False),  # "Not for me" on the student page: a mild no, and never shown again
}


class ModelVersion(Base):
    """The model registry: one row per trained artifact. The API serves the newest ``ready`` version."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("tenant_id", "version", name="uq_model_versions_tenant_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column()
    path: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), default="ready")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    n_users: Mapped[int] = mapped_column(default=0)
    n_items: Mapped[int] = mapped_column(default=0)
    n_interactions: Mapped[int] = mapped_column(default=0)
    training_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ItemEmbedding(Base):
    """An item's text vector, kept with the item so that a retrain re-embeds only the books whose text
    changed (or every book when the embedder changes): embedding is most of a training's time."""

    __tablename__ = "item_embeddings"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    embedder: Mapped[str] = mapped_column(String(500))
    text_hash: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class UiAccount(Base):
    """A dashboard sign-in created by an admin. Only a scrypt hash of the password is kept; a student
    account is tied to its own ``users`` row and sees nothing else."""

    __tablename__ = "ui_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(default=None)


class AccountClass(Base):
    """A class a teacher account teaches: the teacher sees and acts for these classes' students only."""

    __tablename__ = "ui_account_classes"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("ui_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TenantSetting(Base):
    """A tenant's own value for a tunable (scoring weights, level scale, LLM switch), read by the
    serving code at request time so a change applies without a restart."""

    __tablename__ = "tenant_settings"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboxEntry(Base):
    """Interaction events waiting for the relay, written in the transaction that stores the interactions
    (one row per written batch), so an interaction is never stored without its event or vice versa.

    ``payload`` holds one ``key<TAB>event JSON`` line per new interaction: the relay publishes the lines
    without parsing them. ``settled_at`` is set once every event of the row is found applied (in
    ``processed_events``) or the reconciler gave up on it; until then the row is the source a lost
    event is re-published from (``republished`` times so far). Settled rows are purged after a while."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unsent", "sent_at", "id"),
        Index("ix_outbox_unsettled", "settled_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    events: Mapped[int] = mapped_column()
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    settled_at: Mapped[datetime | None] = mapped_column(default=None)
    republished: Mapped[int] = mapped_column(default=0, server_default="0")


class ProcessedEvent(Base):
    """Event ids a worker has applied, written in the same transaction as the effects: a redelivered
    event finds its id here and changes nothing."""

    __tablename__ = "processed_events"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ItemDailyCount(Base):
    """Per item and UTC day: events and positive events, maintained by the workers; ``/v1/items/trending``
    sums the last days. No foreign key to items: a deleted item's counts are simply never joined."""

    __tablename__ = "item_daily_counts"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    events: Mapped[int] = mapped_column(default=0)
    positive: Mapped[int] = mapped_column(default=0)


class JobRun(Base):
    """One run of a background job (retraining…): who triggered it, how it ended, how long it took."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), default=None)
    triggered_by: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    duration_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    owner: Mapped[str] = mapped_column(String(128))
    progress: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    """How far a running job has got (a training's stage, done, total), updated as it runs."""


class JobLock(Base):
    """A lease on a job name: whoever holds an unexpired row runs the job; a crashed holder's lease
    simply expires. Plain rows and conditional UPDATEs, so it works the same on SQLite and PostgreSQL."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column()
