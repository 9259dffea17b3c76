"""All settings in one place: environment variables with the prefix ``NEXTREAD_`` (or a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEXTREAD_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("nextread-data"), description="Where the embedded default keeps its files.")
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty means a SQLite file `nextread.db` under data_dir."
    )
    default_tenant: str = Field("default", description="Slug of the tenant used for single-school setups.")
    admin_api_key: str = Field(
        "", description="Bootstrap admin key for the default tenant (read + write). Empty: none is created."
    )
    read_api_key: str = Field(
        "", description="Bootstrap read-only key for the default tenant. Empty: none is created."
    )
    log_format: Literal["json", "console"] = Field("json", description="Structured log output format.")
    log_level: str = Field("INFO", description="Minimum log level.")
    auto_create_users: bool = Field(
        True, description="Interactions for an unknown user id create that user instead of being rejected."
    )
    max_batch_size: int = Field(
        10_000, description="Largest interaction batch accepted by the API (413 above)."
    )
    import_batch_size: int = Field(5_000, description="Rows written per transaction during imports.")
    max_request_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        description="Largest request body the API reads, in bytes (413 above); counted as it arrives, so "
        "a body without Content-Length is cut off at the limit too.",
    )
    max_upload_bytes: int = Field(
        256 * 1024 * 1024,
        gt=0,
        description="Largest file the dashboard's Import page accepts, in bytes (413 above). Uploads are "
        "streamed to a file under data_dir, never held in memory, and deleted after the import; "
        "`nextread import` reads local files of any size.",
    )
    max_field_chars: int = Field(
        20_000,
        gt=0,
        description="Longest value accepted in any imported or posted field, in characters; lists and "
        "objects (`extra`) count as their JSON text. Longer import rows are rejected, requests get 413.",
    )
    max_line_bytes: int = Field(
        1024 * 1024,
        gt=0,
        description="Longest line of an imported CSV or JSONL file (and CSV row spanning lines), in bytes; "
        "a longer one is rejected by line number and never held in memory.",
    )
    half_life_days: float = Field(
        45.0,
        gt=0,
        description="Time decay of interactions in training and fold-in: "
        "an event's weight halves every N days.",
    )
    consumed_weight: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Collaborative evidence of a rating below 4 stars (the reader had the book without "
        "liking it), as a share of the rating type's weight: having read a book says what else they "
        "might read. 0 makes such ratings count against the book, as before. Never counts as enjoyed.",
    )
    trending_half_life_days: float = Field(
        14.0,
        gt=0,
        description="Trending signal stored at training: each positive event counts half as much "
        "every N days before the newest event.",
    )
    embedder: str = Field(
        "local",
        description="Text embedder: `local` (bundled all-MiniLM-L6-v2, offline) or an OpenAI-compatible "
        "endpoint as `openai+https://host/v1?model=text-embedding-3-small` "
        "(key in NEXTREAD_EMBEDDER_API_KEY).",
    )
    embedder_api_key: str = Field("", description="API key for an `openai+…` embedder endpoint.")
    embedder_threads: int = Field(
        0,
        ge=0,
        description="CPU threads of the local embedding model (process-wide torch setting); 0 = torch's "
        "default, one per core. 1 keeps query embeddings (search) fast on a busy host.",
    )
    llm_base_url: str = Field(
        "",
        description="OpenAI-compatible chat endpoint, e.g. `https://api.openai.com/v1` or "
        "`http://127.0.0.1:11434/v1` (Ollama). Empty: the LLM is off.",
    )
    llm_model: str = Field("", description="Chat model name sent to the LLM endpoint.")
    llm_api_key: str = Field("", description="API key for the LLM endpoint (empty for servers without auth).")
    llm_timeout_seconds: float = Field(
        8.0, gt=0, description="Longest wait for one LLM answer before falling back to the engine."
    )
    llm_weight: float = Field(
        0.4, ge=0, le=1, description="LLM share of a re-ranked score: final = (1 − w) × engine + w × LLM."
    )
    llm_candidates: int = Field(
        20, ge=1, le=100, description="How many of the engine's top candidates the LLM may re-rank."
    )
    llm_breaker_failures: int = Field(
        3, ge=1, description="Consecutive LLM failures that open the circuit breaker (engine only)."
    )
    llm_breaker_cooldown_seconds: float = Field(
        30.0, gt=0, description="How long the breaker stays open before one trial call (half-open)."
    )
    llm_cache_seconds: float = Field(
        3600.0, ge=0, description="How long an LLM answer is reused for an identical prompt (0: no cache)."
    )
    llm_shared_fields: str = Field(
        "reading_level,just_right_band,grade,top_tags,interest_tags,books_enjoyed,books_abandoned",
        description="Comma-separated reader fields the LLM may see (a subset of the default; "
        "see the README's LLM privacy table). Names, ids and free text are never sent.",
    )
    ease_max_items: int = Field(
        10_000, description="Catalogs up to this size use EASE (closed form); larger ones use iALS."
    )
    learned_ranker: bool = Field(
        True,
        description="Re-order the head of the collaborative model's list with a ranker (LightGBM "
        "boosted trees) learned at training from readers' hidden liked books; false serves the CF order.",
    )
    ranking_threads: int = Field(
        1,
        ge=1,
        description="How many ranked answers (personal and anonymous lists, similar books, class lists) "
        "one API process computes at once (the rest queue in order). Ranking holds the GIL most of the "
        "time, so more threads mostly add thread switching; raise it when the database is remote and "
        "each request waits on it.",
    )
    model_refresh_seconds: float = Field(
        5.0,
        description="How often an API process checks the registry for a newer model version (and the "
        "catalog and saved weights for changes); under steady traffic it re-checks in the background "
        "once half of it has passed.",
    )
    ui_storage_secret: str = Field(
        "",
        description="Secret that signs the dashboard's session cookie; empty: generated once and kept in "
        "`<data_dir>/ui-secret` (mode 0600).",
    )
    level_scale: Literal["grade", "lexile", "guided_reading", "atos"] = Field(
        "grade",
        description="Reading-level scale levels are shown in (input accepts any): `grade` (US grade "
        "equivalent, K = 0), `lexile`, `guided_reading` (Fountas & Pinnell A–Z) or `atos` (AR book level).",
    )
    event_bus_url: str = Field(
        "memory://",
        description="Event bus: `memory://` (in-process), `redis://host:6379/0` (Redis Streams) "
        "or `kafka://host:9092[,host:9092]`.",
    )
    cache_url: str = Field(
        "memory://",
        description="Serving cache: `memory://` (per-process LRU), `redis://host:6379/0` (shared by every "
        "process; use it with more than one API process) or `none://` (off).",
    )
    cache_ttl_seconds: float = Field(
        300.0, gt=0, description="How long a cached recommendation list or similar-items answer lives."
    )
    cache_max_entries: int = Field(10_000, gt=0, description="Capacity of the `memory://` cache (LRU).")
    cache_key_prefix: str = Field("nextread", description="Prefix of every Redis cache key.")
    precompute_after_train: bool = Field(
        False,
        description="After each training (scheduled retrains, `nextread train`, `POST /v1/models/train`), "
        "the process that trained writes every reader's default list into the shared cache, as "
        "`nextread precompute` does. Needs a Redis `NEXTREAD_CACHE_URL`.",
    )
    train_in_background: bool = Field(
        True,
        description="A tenant with items and no trained model gets its first training in the background "
        "while requests are answered at once from popularity, reading level and full-text search. "
        "`false`: the first request trains and waits (scripts and tests that need the full model in "
        "their first answer; minutes on a large catalog).",
    )
    scheduler_enabled: bool = Field(
        True, description="Run the retraining scheduler inside `nextread serve` (one run at a time)."
    )
    retrain_cron: str = Field(
        "0 2 * * *", description="Cron expression (UTC) for scheduled retraining; empty: never by clock."
    )
    retrain_after_interactions: int = Field(
        10_000, ge=0, description="Retrain once this many interactions arrived since the last model (0: off)."
    )
    scheduler_poll_seconds: float = Field(
        30.0, gt=0, description="How often the scheduler checks the clock and the interaction count."
    )
    job_lease_seconds: float = Field(
        120.0,
        gt=0,
        description="Lock lease of a running job, renewed while it runs; a crashed holder's lock "
        "expires after this.",
    )
    event_bus_dead_letter_topic: str = Field(
        "", description="Stream/topic for poison events; empty means `<topic>.dead`."
    )
    event_bus_claim_idle_seconds: float = Field(
        30.0,
        gt=0,
        description="A delivered event unacked this long is taken over by another worker "
        "(its worker crashed); Redis and memory buses.",
    )
    event_bus_max_len: int = Field(
        1_000_000, gt=0, description="Approximate cap on retained stream entries (Redis MAXLEN ~, memory)."
    )
    event_bus_dead_consumer_seconds: float = Field(
        600.0,
        gt=0,
        description="A Redis consumer that has read nothing for this long and holds no unacked events "
        "(they were claimed by others) is removed from the consumer group.",
    )
    event_reconcile_seconds: float = Field(
        60.0,
        gt=0,
        description="A published event still not applied this long after it was stored is reported "
        "(`/readyz`: `lagging`) and, when the bus no longer holds it, re-published from the outbox; "
        "checked every half of this.",
    )
    worker_batch_size: int = Field(500, gt=0, description="Events a worker takes from the bus per batch.")
    worker_max_attempts: int = Field(
        5, ge=1, description="Tries per event (in-process retries and redeliveries) before dead-lettering."
    )
    worker_retry_base_seconds: float = Field(
        0.1, ge=0, description="First retry delay of a failed event; doubles on each further try."
    )
    outbox_poll_seconds: float = Field(
        0.25,
        gt=0,
        description="How often the outbox relay looks for unpublished events written by other processes "
        "(its own process wakes it on commit).",
    )

    openlibrary_enabled: bool = Field(
        False,
        description="Allow metadata enrichment from Open Library (`POST /v1/items/{id}/enrich`, "
        "`nextread enrich`); off, no book data leaves the server.",
    )
    openlibrary_url: str = Field("https://openlibrary.org", description="Open Library API base URL.")
    openlibrary_covers_url: str = Field(
        "https://covers.openlibrary.org", description="Base URL of the cover images written to `cover_url`."
    )
    openlibrary_requests_per_second: float = Field(
        1.0, gt=0, description="Most Open Library requests per second per process (cached answers are free)."
    )
    openlibrary_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one Open Library request.")

    @field_validator("llm_shared_fields")
    @classmethod
    def _known_shared_fields(cls, value: str) -> str:
        """A misspelt field would silently share less (or an operator would think it shares less)."""
        from nextread.llm.privacy import READER_FIELDS

        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = sorted(set(names) - set(READER_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(READER_FIELDS)}")
        return ",".join(names)

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'nextread.db').as_posix()}"
        return self

    @model_validator(mode="after")
    def _precompute_needs_a_shared_cache(self) -> Settings:
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


@lru_cache
def get_settings() -> Settings:
    return Settings()
