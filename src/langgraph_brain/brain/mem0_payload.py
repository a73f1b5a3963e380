"""What a memory looks like inside Mem0's pgvector collection, the statements that write it, and
the embedder Mem0 is given.

The payload keys and values are the ones Mem0 OSS's `AsyncMemory.add(..., infer=False)` and
`AsyncMemory.update` store (`mem0/memory/main.py`, `_create_memory` / `_update_memory`): the
caller's metadata, the owner key `user_id`, `role`, the text as `data` with its MD5 `hash`,
Mem0's lemmatised copy for its own BM25, and ISO timestamps. `tests/test_mem0_payload.py` checks
them against a memory Mem0 itself wrote, so Mem0's reads keep working on rows the brain wrote.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from langchain_core.embeddings import Embeddings

COLLECTION = "brain_mem0"  # created, with our own indexes, by migration v2

INSERT_SQL = f"INSERT INTO {COLLECTION} (id, vector, payload) VALUES (%s::uuid, %s::vector, %s)".encode()
# Mem0's update keeps the stored payload and overlays the new values (created_at stays).
UPDATE_SQL = (
    f"UPDATE {COLLECTION} SET vector = %s::vector, payload = payload || %s WHERE id = %s::uuid RETURNING id"
).encode()

#: Keys Mem0 never changes after creation (`_strip_identity_keys`).
IDENTITY_KEYS = frozenset({"user_id", "agent_id", "run_id", "actor_id"})


def _text_fields(content: str) -> dict[str, Any]:
    from mem0.utils.lemmatization import lemmatize_for_bm25

    return {
        "data": content,
        "hash": hashlib.md5(content.encode()).hexdigest(),  # Mem0's content hash, not a security digest
        "text_lemmatized": lemmatize_for_bm25(content),
    }


def new_payload(content: str, entity_key: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """The payload `add(content, user_id=entity_key, metadata=metadata, infer=False)` stores."""
    now = datetime.now(UTC).isoformat()
    return {**metadata, "user_id": entity_key, "role": "user", **_text_fields(content),
            "created_at": now, "updated_at": now}  # fmt: skip


def payload_patch(content: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """What `update(memory_id, text=content, metadata=metadata)` overlays on the stored payload."""
    kept = {k: v for k, v in metadata.items() if k not in IDENTITY_KEYS}
    return {**kept, **_text_fields(content), "updated_at": datetime.now(UTC).isoformat()}


class PrefixAwareEmbedder:
    """Mem0 embedder that keeps e5's query/passage distinction.

    Mem0's stock `langchain` embedder calls `embed_query` for everything, which would store
    documents with the ``query:`` prefix. Mem0 tells us what each call is for (`memory_action`),
    so stored text goes through `embed_documents` and searches through `embed_query`.
    """

    def __init__(self, embeddings: Embeddings) -> None:
        self.embeddings = embeddings

    def embed(self, text: str, memory_action: str | None = None) -> list[float]:
        if memory_action == "search":
            return self.embeddings.embed_query(text)
        return self.embeddings.embed_documents([text])[0]
