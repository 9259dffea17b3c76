"""All settings in one place: environment variables with the prefix ``NEXTREAD_`` (or a ``.env`` file).

Settings are grouped by concern (``settings.cache.cache_url``) so a component depends on the group it
reads, while every variable keeps its flat, documented name (``NEXTREAD_CACHE_URL``): each group reads
the environment itself, and :class:`Settings` sorts flat keywords (``Settings(cache_url=...)``, also in
``model_copy(update=...)``) into their groups, so callers that build settings need not know the grouping.
``docs/configuration.md`` is generated from these classes (``python scripts/gen_config_docs.py``).

This module is the bottom layer: it imports nothing from ``nextread``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

# Reader fields the optional LLM may receive (nextread.llm.privacy builds them); defined here so the
# NEXTREAD_LLM_SHARED_FIELDS validator can reject a misspelt name without importing the LLM layer.
READER_FIELDS = (
    "reading_level",
    "just_right_band",
    "grade",
    "top_tags",
    "interest_tags",
    "books_enjoyed",
    "books_abandoned",
)


class SettingsGroup(BaseSettings):
    """One concern's variables, each read from ``NEXTREAD_<FIELD NAME>`` (or ``.env``); unknown ignored."""

    model_config = SettingsConfigDict(env_prefix="NEXTREAD_", env_file=".env", extra="ignore")

    # The processes that must be given this group's variables (docs/configuration.md shows it).
    read_by: ClassVar[str]


class StoreSettings(SettingsGroup):
    """Where the data lives. Every process needs the same values: the database, and the directory of
    model artifacts, caches and uploads (a volume shared by every process in production)."""

    read_by: ClassVar[str] = "every process"

    data_dir: Path = Field(
        Path("nextread-data"),
        description="Where the embedded default keeps its files: the SQLite database, model artifacts "
        "(`models/`), the Open Library cache and dashboard uploads. In production, the same shared volume "
        "in every process.",
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL; empty means a SQLite file `nextread.db` under data_dir. "
        "`postgresql://user@host/db` works as is. Secret when it holds a password.",
    )
    default_tenant: str = Field("default", description="Slug of the tenant used for single-school setups.")

    @model_validator(mode="after")
    def _default_database(self) -> StoreSettings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'nextread.db').as_posix()}"
        return self


class LoggingSettings(SettingsGroup):
    """Structured logs of every process."""

    read_by: ClassVar[str] = "every process"

    log_format: Literal["json", "console"] = Field("json", description="Structured log output format.")
    log_level: str = Field("INFO", description="Minimum log level.")


class AccountSettings(SettingsGroup):
    """Credentials created or used at start-up (bootstrap API keys for the default tenant and the secret of
    the dashboard's session cookie: all three are secrets), and how the dashboard's sign-in page slows down
    password and key guessing. Failed attempts are counted in the serving cache (``NEXTREAD_CACHE_URL``):
    give every API process the same Redis so a lockout holds across them."""

    read_by: ClassVar[str] = "API (`nextread serve`)"

    admin_api_key: str = Field(
        "", description="Bootstrap admin key for the default tenant (read + write). Empty: none is created."
    )
    read_api_key: str = Field(
        "", description="Bootstrap read-only key for the default tenant. Empty: none is created."
    )
    ui_storage_secret: str = Field(
        "",
        description="Secret that signs the dashboard's session cookie; empty: generated once and kept in "
        "`<data_dir>/ui-secret` (mode 0600).",
    )
    sign_in_max_failures: int = Field(
        5,
        gt=0,
        description="Failed dashboard sign-ins allowed for one username (or, on the API key tab, one client "
        "address) within sign_in_failure_window_seconds; the next one starts a lockout, during which even "
        "the right password is refused.",
    )
    sign_in_failure_window_seconds: float = Field(
        900.0, gt=0, description="How long failed sign-ins are counted, from the first one."
    )
    sign_in_lockout_seconds: float = Field(
        60.0,
        gt=0,
        description="First lockout; each further lockout of the same username or address within a day "
        "doubles it, up to sign_in_lockout_max_seconds. A successful sign-in starts again from here.",
    )
    sign_in_lockout_max_seconds: float = Field(
        3600.0, gt=0, description="Longest lockout, however many lockouts came before."
    )


class IntakeSettings(SettingsGroup):
    """What the API, the dashboard's Import page and `nextread import` accept: size limits that keep one
    request or file from exhausting memory, and what happens to interactions of unknown readers."""

    read_by: ClassVar[str] = "API, dashboard, `nextread import`"

    auto_create_users: bool = Field(
        True, description="Interactions for an unknown user id create that user instead of being rejected."
    )
    max_batch_size: int = Field(
        10_000, description="Largest interaction batch accepted by the API (`413` above)."
    )
    import_batch_size: int = Field(5_000, description="Rows written per transaction during imports.")
    max_request_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        description="Largest request body the API reads, in bytes (`413` above, naming the limit); counted "
        "as it arrives, so a body without Content-Length is cut off at the limit too.",
    )
    max_upload_bytes: int = Field(
        256 * 1024 * 1024,
        gt=0,
        description="Largest file the dashboard's Import page accepts, in bytes (`413` above). Uploads are "
        "streamed to a file under data_dir, never held in memory, and deleted after the import; "
        "`nextread import` reads local files of any size.",
    )
    max_field_chars: int = Field(
        20_000,
        gt=0,
        description="Longest value accepted in any imported or posted field, in characters; lists and "
        "objects (`extra`) count as their JSON text. Longer import rows are rejected, requests get `413`.",
    )
    max_line_bytes: int = Field(
        1024 * 1024,
        gt=0,
        description="Longest line of an imported CSV or JSONL file (and CSV row spanning lines), in bytes; "
        "a longer one is rejected by line number and never held in memory.",
    )


class TrainingSettings(SettingsGroup):
    """How interactions become a model. Read wherever a model is trained (API, scheduler, `nextread
    train`) and where a new interaction is folded into a served model; most apply from the next training."""

    read_by: ClassVar[str] = "every process"

    half_life_days: float = Field(
        45.0,
        gt=0,
        description="Time decay of interactions in training and fold-in: an event's weight halves every "
        "N days.",
    )
    consumed_weight: float = Field(
        0.25,
        ge=0,
        le=1,
        description="A rating of 3 stars or less says the reader had the book without liking it: the "
        "collaborative model counts it at this share of the rating type's weight (having read a book says "
        'what else they might read). It never counts as enjoyed: no profile, series boost or "because '
        'you enjoyed" reason is built on it. `0` makes low ratings count against the book.',
    )
    trending_half_life_days: float = Field(
        14.0,
        gt=0,
        description="The `trending` recommendation component: training counts each item's positive "
        "events, each halved every N days before the newest event (what readers took up lately).",
    )
    ease_max_items: int = Field(
        10_000, description="Catalogs up to this size use EASE (closed form); larger ones use iALS."
    )
    learned_ranker: bool = Field(
        True,
        description="Re-order the head (top 100) of the collaborative model's list with a ranker "
        "(LightGBM boosted trees) learned at training from readers' hidden liked books; `false` serves "
        "the CF order.",
    )
    train_in_background: bool = Field(
        True,
        description="A tenant with items and no trained model gets its first training in the background "
        "(progress in the logs, `GET /v1/models` and the dashboard) while requests are answered at once "
        "from popularity, reading level and full-text search. `false`: the first request trains and "
        "waits (scripts and tests that need the full model in their first answer; minutes on a large "
        "catalog).",
    )


class ServingSettings(SettingsGroup):
    """How an API process answers: how many answers it ranks at once, how soon it serves a newer model,
    and the reading-level scale it shows levels in."""

    read_by: ClassVar[str] = "API, dashboard, MCP"

    ranking_threads: int = Field(
        1,
        ge=1,
        description="How many ranked answers (personal and anonymous lists, similar books, class lists) "
        "one API process computes at once; the rest queue in arrival order. Cached personal lists are "
        "answered without waiting. Ranking holds the GIL most of the time, so more threads mostly add "
        "thread switching; raise it when the database is remote and each request waits on it.",
    )
    model_refresh_seconds: float = Field(
        5.0,
        description="How often an API process checks the registry for a newer model version (and the "
        "catalog and saved weights for changes); under steady traffic it re-checks in the background "
        "once half of it has passed, so requests never wait for the check.",
    )
    level_scale: Literal["grade", "lexile", "guided_reading", "atos"] = Field(
        "grade",
        description="Scale reading levels are shown in (input accepts any): `grade` (US grade equivalent, "
        "K = 0), `lexile`, `guided_reading` (Fountas & Pinnell A–Z) or `atos` (AR book level). A school "
        "can override it on the dashboard's Settings page.",
    )


class EmbeddingSettings(SettingsGroup):
    """The text embedder behind semantic similarity and search; the same model must embed the catalog
    at training and the queries at search time."""

    read_by: ClassVar[str] = "every process"

    embedder: str = Field(
        "local",
        description="Text embedder: `local` (bundled all-MiniLM-L6-v2, offline) or an OpenAI-compatible "
        "endpoint as `openai+https://host/v1?model=text-embedding-3-small` "
        "(key in NEXTREAD_EMBEDDER_API_KEY).",
    )
    embedder_api_key: str = Field("", description="API key for an `openai+…` embedder endpoint. Secret.")
    embedder_threads: int = Field(
        0,
        ge=0,
        description="CPU threads of the local embedding model (a process-wide torch setting); `0` = "
        "torch's default, one per core. `1` keeps query embeddings (search) fast on a busy host, where "
        "spin-waiting threads compete; batch embedding at training is then slower.",
    )


class LLMSettings(SettingsGroup):
    """The optional LLM that re-ranks and explains recommendations. Off unless an endpoint is set and
    the school turns on its LLM switch; a failure or timeout falls back to the engine's own answer."""

    read_by: ClassVar[str] = "API"

    llm_base_url: str = Field(
        "",
        description="OpenAI-compatible chat endpoint (OpenAI, Azure OpenAI, Ollama "
        "`http://127.0.0.1:11434/v1`, vLLM, llama.cpp, a LiteLLM proxy). Empty: the LLM is off and "
        "nothing is ever sent.",
    )
    llm_model: str = Field("", description="Chat model name sent to the LLM endpoint.")
    llm_api_key: str = Field(
        "", description="API key for the LLM endpoint (empty for servers without auth). Secret."
    )
    llm_timeout_seconds: float = Field(
        8.0,
        gt=0,
        description="Longest wait for one LLM answer; then the engine's own ranking and sentences are "
        "served.",
    )
    llm_weight: float = Field(
        0.4, ge=0, le=1, description="LLM share of a re-ranked score: final = (1 − w) × engine + w × LLM."
    )
    llm_candidates: int = Field(
        20, ge=1, le=100, description="How many of the engine's top candidates the LLM sees and may re-order."
    )
    llm_breaker_failures: int = Field(
        3,
        ge=1,
        description="Consecutive failures (timeouts, HTTP errors) that open the circuit breaker: no LLM "
        "calls at all.",
    )
    llm_breaker_cooldown_seconds: float = Field(
        30.0,
        gt=0,
        description="After this long an open breaker lets one trial call through (half-open); success "
        "closes it.",
    )
    llm_cache_seconds: float = Field(
        3600.0,
        ge=0,
        description="How long an answer is reused for an identical prompt (SHA-256 of model + prompt, in "
        "the NEXTREAD_CACHE_URL backend); `0`: no cache.",
    )
    llm_shared_fields: str = Field(
        ",".join(READER_FIELDS),
        description="Comma-separated reader fields the LLM may see: any of "
        + ", ".join(f"`{name}`" for name in READER_FIELDS)
        + " (unknown names are a start-up error). Names, ids and free text are never sent.",
    )

    @field_validator("llm_shared_fields")
    @classmethod
    def _known_shared_fields(cls, value: str) -> str:
        """A misspelt field would silently share less (or an operator would think it shares less)."""
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = sorted(set(names) - set(READER_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(READER_FIELDS)}")
        return ",".join(names)


class EventSettings(SettingsGroup):
    """The interaction event pipeline: the bus, the outbox relay that publishes stored events to it, the
    workers that apply them, and the reconciler that re-publishes events the bus lost."""

    read_by: ClassVar[str] = "API, worker"

    event_bus_url: str = Field(
        "memory://",
        description="Event bus: `memory://` (in-process), `redis://host:6379/0` (Redis Streams, consumer "
        "groups) or `kafka://host:9092[,host:9092]` (partitioned by user).",
    )
    event_bus_dead_letter_topic: str = Field(
        "",
        description="Stream/topic for poison events, with the reason; empty means `<topic>.dead` "
        "(`nextread.interactions.dead`).",
    )
    event_bus_claim_idle_seconds: float = Field(
        30.0,
        gt=0,
        description="A delivered event left unacked this long (its worker crashed) is taken over by "
        "another worker (Redis XAUTOCLAIM, memory); Kafka reassigns a dead worker's partitions instead.",
    )
    event_bus_max_len: int = Field(
        1_000_000,
        gt=0,
        description="Approximate cap on retained stream entries (Redis `XADD MAXLEN ~`, memory); Kafka "
        "retention is the broker's.",
    )
    event_bus_dead_consumer_seconds: float = Field(
        600.0,
        gt=0,
        description="A Redis consumer (one per worker process and concurrency slot) that has read nothing "
        "for this long and holds no unacked events (a crashed worker's, once the others claimed them) is "
        "removed from the consumer group (`XGROUP DELCONSUMER`).",
    )
    event_reconcile_seconds: float = Field(
        60.0,
        gt=0,
        description="A published event still not applied this long after it was stored makes `/readyz` "
        'report `"events": "lagging"`; when the bus no longer holds it (Redis restarted without '
        "persistence, the embedded bus's process restarted) it is re-published from the outbox. Checked "
        "every half of this.",
    )
    worker_batch_size: int = Field(500, gt=0, description="Events a worker takes from the bus per batch.")
    worker_max_attempts: int = Field(
        5,
        ge=1,
        description="Tries per event (in-process retries plus redeliveries after a crash) before it goes "
        "to the dead-letter stream.",
    )
    worker_retry_base_seconds: float = Field(
        0.1, ge=0, description="First retry delay of a failed event; doubles on each further try."
    )
    outbox_poll_seconds: float = Field(
        0.25,
        gt=0,
        description="How often the outbox relay looks for unpublished events written by other processes, "
        "such as a CLI import (writes in its own process wake it at once); it backs off up to 5 s while "
        "the bus or database is down. Each look costs CPU in every API process.",
    )


class CacheSettings(SettingsGroup):
    """The serving cache of recommendation lists and similar-items answers, and whether training fills it
    with every reader's default list."""

    read_by: ClassVar[str] = "API, worker (precompute: where the scheduler runs)"

    cache_url: str = Field(
        "memory://",
        description="Serving cache: `memory://` (per-process LRU with TTL), `redis://host:6379/0` (shared "
        "by every process; use it with more than one API process) or `none://` (off).",
    )
    cache_ttl_seconds: float = Field(
        300.0,
        gt=0,
        description="How long a cached recommendation list or similar-items answer lives (a user's new "
        "interaction invalidates theirs at once).",
    )
    cache_max_entries: int = Field(
        10_000,
        gt=0,
        description="Capacity of the `memory://` cache (least recently used entries are dropped).",
    )
    cache_key_prefix: str = Field(
        "nextread", description="Prefix of every Redis cache key (several deployments can share one Redis)."
    )
    precompute_after_train: bool = Field(
        False,
        description="After each training (scheduled retrains, `nextread train`, `POST /v1/models/train`), "
        "the process that trained writes every reader's default list for the new model into the shared "
        "cache, as `nextread precompute` does. Needs a Redis NEXTREAD_CACHE_URL (refused at start-up "
        "otherwise).",
    )

    @model_validator(mode="after")
    def _precompute_needs_a_shared_cache(self) -> CacheSettings:
        if self.precompute_after_train and not self.cache_is_shared:
            raise ValueError(
                f"NEXTREAD_PRECOMPUTE_AFTER_TRAIN needs a cache every API process reads, but "
                f"NEXTREAD_CACHE_URL is {self.cache_url!r}; set it to redis://host:6379/0"
            )
        return self

    @property
    def cache_is_shared(self) -> bool:
        """Whether every API process reads the same cache (Redis), so a list written once serves all."""
        return self.cache_url.startswith(("redis://", "rediss://", "unix://"))


class JobSettings(SettingsGroup):
    """The retraining scheduler, inside `nextread serve` or its own process; a lease admits one run at a
    time across all processes."""

    read_by: ClassVar[str] = "API or `nextread jobs schedule`"

    scheduler_enabled: bool = Field(
        True,
        description="Run the retraining scheduler inside `nextread serve`; a cross-process lock makes one "
        "run at a time. Set `false` on the APIs when `nextread jobs schedule` runs on its own.",
    )
    retrain_cron: str = Field(
        "0 2 * * *",
        description="Cron expression (UTC) for scheduled retraining of every tenant; empty: never by the "
        "clock.",
    )
    retrain_after_interactions: int = Field(
        10_000,
        ge=0,
        description="Retrain a tenant once this many interactions arrived since its last model (`0`: off).",
    )
    scheduler_poll_seconds: float = Field(
        30.0, gt=0, description="How often the scheduler checks the clock and the interaction counts."
    )
    job_lease_seconds: float = Field(
        120.0,
        gt=0,
        description="Lease of a job's lock row, renewed while the job runs; a crashed holder's lock "
        "expires after this.",
    )


class OpenLibrarySettings(SettingsGroup):
    """Optional metadata enrichment from Open Library; off by default, so no book data leaves the
    server."""

    read_by: ClassVar[str] = "API, `nextread enrich`"

    openlibrary_enabled: bool = Field(
        False,
        description="Allow metadata enrichment from Open Library (`POST /v1/items/{id}/enrich`, "
        "`nextread enrich`) and the server's fetching of book covers, which the dashboard then serves "
        "itself; off, no book data leaves the server and pages show no covers.",
    )
    openlibrary_url: str = Field(
        "https://openlibrary.org",
        description="Open Library API base URL (`/isbn/{isbn}.json`, `/works/{id}.json`, `/search.json`).",
    )
    openlibrary_covers_url: str = Field(
        "https://covers.openlibrary.org",
        description="Base URL of the cover images written to `cover_url` (`/b/isbn/{isbn}-M.jpg`).",
    )
    openlibrary_requests_per_second: float = Field(
        1.0,
        gt=0,
        description='Most Open Library requests per second per process; answers (also "not found") are '
        "cached under `<data_dir>/cache/openlibrary`.",
    )
    openlibrary_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one Open Library request.")


class Settings(BaseModel):
    """Every setting, one attribute per concern; built from the environment, ``.env`` and flat keywords."""

    store: StoreSettings = Field(default_factory=StoreSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    openlibrary: OpenLibrarySettings = Field(default_factory=OpenLibrarySettings)

    @classmethod
    def groups(cls) -> dict[str, type[SettingsGroup]]:
        """Each group's attribute name and class, in documentation order."""
        return {name: field.annotation for name, field in cls.model_fields.items()}  # type: ignore[misc]

    @classmethod
    def variables(cls) -> dict[str, FieldInfo]:
        """Every setting by its flat name (``cache_url``; the variable is ``NEXTREAD_CACHE_URL``)."""
        return {name: field for group in cls.groups().values() for name, field in group.model_fields.items()}

    @model_validator(mode="before")
    @classmethod
    def _sort_flat_names_into_groups(cls, values: Any) -> Any:
        """Each group is built by its own constructor so it also reads the environment for the rest."""
        if not isinstance(values, dict):
            return values
        grouped: dict[str, Any] = {}
        for name, group in cls.groups().items():
            given = values.get(name)
            flat = {key: values[key] for key in group.model_fields if key in values}
            if isinstance(given, group) and not flat:
                grouped[name] = given
            elif isinstance(given, group):
                raise ValueError(f"give {', '.join(flat)} inside {name}= or flat, not both")
            else:
                grouped[name] = group(**{**(given or {}), **flat})
        return grouped

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Settings:
        """A copy whose ``update`` may use flat names (``{"cache_url": ...}``) as well as group names.

        Every group is copied too, so changing an attribute of the copy never changes the original; like
        pydantic's ``model_copy``, the new values are not validated."""
        update = update or {}
        unknown = set(update) - set(self.groups()) - set(self.variables())
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(sorted(unknown))}")
        groups = {}
        for name, group in self.groups().items():
            flat = {key: value for key, value in update.items() if key in group.model_fields}
            groups[name] = update.get(name, getattr(self, name)).model_copy(update=flat, deep=deep)
        return super().model_copy(update=groups, deep=deep)


@lru_cache
def get_settings() -> Settings:
    return Settings()
