"""The checkpointer's serializer: LangGraph's JsonPlusSerializer, minus silent text corruption.

LangGraph packs strings with `ormsgpack.OPT_REPLACE_SURROGATES`, so a lone surrogate (e.g. half of
an emoji cut by a byte-level truncation upstream) is silently stored as `?`. We refuse such text
with a clear error instead: better a failed turn that names the problem than a transcript that
quietly differs from what was said. NUL characters need nothing: msgpack stores them in a bytea
and they round-trip exactly.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer


class CheckpointTextError(ValueError):
    """State holds text that cannot be stored faithfully (a lone UTF-16 surrogate)."""


def find_lone_surrogate(obj: Any, _depth: int = 0) -> str | None:
    """Return the path-less offending string if `obj` holds a lone surrogate anywhere, else None.

    Walks str/bytes-free containers, dataclass-like and pydantic objects through `__dict__`.
    ASCII strings are skipped on a fast path, so the walk is cheap for ordinary chat text.
    """
    if isinstance(obj, str):
        if obj.isascii():
            return None
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            return obj
        return None
    if _depth > 64 or obj is None or isinstance(obj, int | float | bool | bytes | bytearray):
        return None
    if isinstance(obj, dict):
        for k, v in obj.items():
            bad = find_lone_surrogate(k, _depth + 1) or find_lone_surrogate(v, _depth + 1)
            if bad is not None:
                return bad
        return None
    if isinstance(obj, list | tuple | set | frozenset):
        for v in obj:
            bad = find_lone_surrogate(v, _depth + 1)
            if bad is not None:
                return bad
        return None
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        return find_lone_surrogate(attrs, _depth + 1)
    return None


class BrainSerializer(JsonPlusSerializer):
    """JsonPlusSerializer that raises `CheckpointTextError` rather than replace lone surrogates."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        bad = find_lone_surrogate(obj)
        if bad is not None:
            snippet = bad.encode("utf-8", "backslashreplace").decode("ascii", "replace")[:80]
            raise CheckpointTextError(
                "cannot store text containing a lone UTF-16 surrogate (invalid Unicode); it would be "
                f"silently replaced by '?'. Clean the input first. Offending text starts: {snippet!r}"
            )
        return super().dumps_typed(obj)
