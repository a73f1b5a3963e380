"""Entity-id normalisers: the same person or company must always map to the same id."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from .errors import BrainConfigurationError

EntityNormalizer = Callable[[str], str]
MAX_ENTITY_ID_CHARS = 256


def normalize_entity_id(raw: object) -> str:
    """Default normaliser: NFKC, trim, lowercase. Rejects empty ids and control characters.

    A bad entity id is a configuration error, not something a model can fix: identities come
    from the runtime context, never from tool arguments.
    """
    if not isinstance(raw, str):
        raise BrainConfigurationError(f"entity id must be a string, not {type(raw).__name__}.")
    value = unicodedata.normalize("NFKC", raw).strip().lower()
    if not value:
        raise BrainConfigurationError("entity id is empty; set user_id / company_id in the runtime context.")
    if len(value) > MAX_ENTITY_ID_CHARS:
        raise BrainConfigurationError(f"entity id is longer than {MAX_ENTITY_ID_CHARS} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise BrainConfigurationError("entity id contains control characters or lone surrogates.")
    return value


_RUT_RE = re.compile(r"^(\d{1,9})([\dk])$")


def normalize_rut(raw: object) -> str:
    """Chilean RUT, formatting removed: '12.345.678-K' -> '12345678k'. Does not check the verifier."""
    value = normalize_entity_id(raw)
    compact = re.sub(r"[.\-\s]", "", value)
    if not _RUT_RE.fullmatch(compact):
        raise BrainConfigurationError(f"{raw!r} is not a RUT (expected e.g. 12.345.678-5).")
    return compact


def normalize_rut_checked(raw: object) -> str:
    """Like `normalize_rut`, and also rejects a wrong modulo-11 verifier digit."""
    compact = normalize_rut(raw)
    if _rut_verifier(compact[:-1]) != compact[-1]:
        raise BrainConfigurationError(f"{raw!r} has a wrong RUT check digit.")
    return compact


def _rut_verifier(body: str) -> str:
    total, factor = 0, 2
    for digit in reversed(body):
        total += int(digit) * factor
        factor = 2 if factor == 7 else factor + 1
    rest = 11 - total % 11
    return {11: "0", 10: "k"}.get(rest, str(rest))
