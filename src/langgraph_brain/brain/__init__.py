"""Long-term memory: the slug-keyed brain table, kept 1:1 in sync with Mem0."""

from .embeddings import E5Embeddings, QueryCachingEmbeddings, make_embeddings
from .entities import EntityNormalizer, normalize_entity_id, normalize_rut, normalize_rut_checked
from .errors import (
    BrainConfigurationError,
    BrainError,
    MemoryBackendError,
    MemoryNotFoundError,
    MemoryValidationError,
)
from .factory import (
    aclose_shared_service,
    get_shared_service,
    open_memory_service,
    settings_embeddings,
    shared_embeddings,
)
from .index import IndexHit, IndexMemoryMissing, MemoryIndex, content_hash, entity_key
from .models import Actor, HistoryEntry, MemoryRecord, SaveManyResult, SaveResult, SearchHit
from .service import MemoryService
from .validation import (
    CATEGORY_PATTERN,
    COMPANY_CATEGORIES,
    SLUG_PATTERN,
    USER_CATEGORIES,
    Scope,
    suggest_slug,
)

__all__ = [
    "CATEGORY_PATTERN",
    "COMPANY_CATEGORIES",
    "SLUG_PATTERN",
    "USER_CATEGORIES",
    "Actor",
    "BrainConfigurationError",
    "BrainError",
    "E5Embeddings",
    "EntityNormalizer",
    "HistoryEntry",
    "IndexHit",
    "IndexMemoryMissing",
    "MemoryBackendError",
    "MemoryIndex",
    "MemoryNotFoundError",
    "MemoryRecord",
    "MemoryService",
    "MemoryValidationError",
    "QueryCachingEmbeddings",
    "SaveManyResult",
    "SaveResult",
    "Scope",
    "SearchHit",
    "aclose_shared_service",
    "content_hash",
    "entity_key",
    "get_shared_service",
    "make_embeddings",
    "normalize_entity_id",
    "normalize_rut",
    "normalize_rut_checked",
    "open_memory_service",
    "settings_embeddings",
    "shared_embeddings",
    "suggest_slug",
]
