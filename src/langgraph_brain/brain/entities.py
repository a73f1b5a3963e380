"""Entity-id normalisers: the same person or company must always map to the same id."""

from __future__ import annotations

import re

from ..errors import BrainConfigurationError
from ..identity import MAX_ENTITY_ID_CHARS, EntityNormalizer, normalize_entity_id

__all__ = [
    "MAX_ENTITY_ID_CHARS",
    "EntityNormalizer",
    "normalize_entity_id",
    "normalize_rut",
    "normalize_rut_checked",
]


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
