"""Input rules for slugs, content, scopes, categories and search limits.

Every check runs before anything is written, so a rejected call leaves both stores untouched.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

from .errors import MemoryValidationError

Scope = Literal["user", "company"]
SCOPES: tuple[Scope, ...] = ("user", "company")

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,127}$"
_SLUG_RE = re.compile(SLUG_PATTERN)
CATEGORY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
_CATEGORY_RE = re.compile(CATEGORY_PATTERN)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")

#: Documented default categories. Categories are free text matching CATEGORY_PATTERN.
USER_CATEGORIES = ("profile", "preference", "business", "fact", "goal")
COMPANY_CATEGORIES = ("company_profile", "company_tax", "company_policy", "fact", "goal")
DEFAULT_CATEGORY: dict[Scope, str] = {"user": "fact", "company": "fact"}
MAX_K = 100
MAX_QUERY_CHARS = 2000
MAX_METADATA_BYTES = 16_384


def suggest_slug(text: str) -> str:
    """A valid slug derived from `text`, e.g. 'Company Tax Regime' -> 'company_tax_regime'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_.-]+", "_", ascii_text.lower()).strip("_.-")
    return slug[:128] or "memory_note"


def validate_scope(scope: str) -> Scope:
    if scope not in SCOPES:
        raise MemoryValidationError(f"scope must be 'user' or 'company', not {scope!r}.")
    return scope


def validate_slug(slug: object) -> str:
    if not isinstance(slug, str) or not _SLUG_RE.fullmatch(slug):
        shown = slug if isinstance(slug, str) else type(slug).__name__
        hint = suggest_slug(slug) if isinstance(slug, str) else "company_tax_regime"
        raise MemoryValidationError(
            f"slug {str(shown)[:80]!r} is invalid: a slug is 1-128 characters of lowercase letters, digits,"
            f" '_', '.' or '-', starting with a letter or digit (pattern {SLUG_PATTERN}). try {hint!r}."
        )
    return slug


def _check_text(value: str, what: str) -> None:
    if "\x00" in value:
        raise MemoryValidationError(f"{what} contains a NUL character (\\x00); remove it and try again.")
    if _SURROGATE_RE.search(value):
        raise MemoryValidationError(
            f"{what} contains a lone UTF-16 surrogate, which is not valid text; remove it and try again."
        )


def validate_content(content: object, *, max_chars: int) -> str:
    if not isinstance(content, str):
        raise MemoryValidationError(f"content must be text, not {type(content).__name__}.")
    _check_text(content, "content")
    stripped = content.strip()
    if not stripped:
        raise MemoryValidationError("content is empty; write the fact to remember as one or two sentences.")
    if len(stripped) > max_chars:
        raise MemoryValidationError(
            f"content is {len(stripped)} characters; the limit is {max_chars}. Save a shorter summary,"
            " or split it into several memories with their own slugs."
        )
    return stripped


def validate_category(category: object, scope: Scope) -> str:
    if category is None or category == "":
        return DEFAULT_CATEGORY[scope]
    if not isinstance(category, str) or not _CATEGORY_RE.fullmatch(category):
        examples = ", ".join(USER_CATEGORIES if scope == "user" else COMPANY_CATEGORIES)
        raise MemoryValidationError(
            f"category {str(category)[:64]!r} is invalid: use lowercase letters, digits and '_'"
            f" (pattern {CATEGORY_PATTERN}), e.g. {examples}."
        )
    return category


def validate_query(query: object) -> str:
    if not isinstance(query, str):
        raise MemoryValidationError(f"query must be text, not {type(query).__name__}.")
    _check_text(query, "query")
    stripped = query.strip()
    if not stripped:
        raise MemoryValidationError("query is empty; describe what you are looking for in a few words.")
    if len(stripped) > MAX_QUERY_CHARS:
        raise MemoryValidationError(
            f"query is too long ({len(stripped)} characters; limit {MAX_QUERY_CHARS})."
        )
    return stripped


def validate_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise MemoryValidationError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}.")
    return k


def validate_importance(importance: object, *, what: str = "importance") -> float:
    """`importance` as a float if it is a real number from 0 to 1 (not a bool, NaN or text).

    The brain ranks and retains by it (README "Signals"); the database would clamp a value out of
    range, but a caller who wrote 5 or "high" meant something else, so it is refused instead.
    """
    if isinstance(importance, bool) or not isinstance(importance, (int, float)):
        shown = repr(importance)[:40]
        raise MemoryValidationError(
            f"{what} must be a number from 0 to 1, not {shown}: e.g. 0.9 for something the user stressed,"
            " 0.2 for a passing detail. Leave it out to let the brain derive it from the category."
        )
    if not 0 <= importance <= 1:  # also NaN (every comparison is false) and infinities
        raise MemoryValidationError(
            f"{what} is {importance!r}; it must be from 0 (trivial) to 1 (essential), e.g. 0.9 for"
            " something the user stressed. Leave it out to let the brain derive it."
        )
    return float(importance)


def validate_metadata(metadata: object) -> dict[str, Any]:
    """A JSON round-trip copy of `metadata` (None is `{}`), at most MAX_METADATA_BYTES as UTF-8.

    `metadata.importance`, when present, must pass `validate_importance`.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise MemoryValidationError("metadata must be a JSON object (a mapping of names to values).")
    if "importance" in metadata:
        validate_importance(metadata["importance"], what="metadata.importance")
    try:
        text = json.dumps(dict(metadata), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MemoryValidationError(f"metadata is not JSON-serialisable: {exc}") from exc
    if "\\u0000" in text or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise MemoryValidationError("metadata contains NUL characters or lone surrogates.")
    if len(text.encode("utf-8")) > MAX_METADATA_BYTES:
        raise MemoryValidationError(f"metadata is larger than {MAX_METADATA_BYTES} bytes.")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
