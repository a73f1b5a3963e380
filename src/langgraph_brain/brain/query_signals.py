"""Two per-query signals of hybrid fusion (`search.arank`, knobs in `retrieval.RetrievalOptions`).

- **Cross-lingual switch.** The keyword side can only match words written in the query's
  language. When one of the vector side's best memories is written in another recognised
  language, the memories the query is about span languages, and the keyword side would rank the
  same-language ones first for lack of shared words in the others, not for lack of relevance.
  For such a query hybrid search keeps the vector order (`cross_lingual`).
- **Temporal intent.** A question that asks *when* ("When did …", "What year …", "Quand …",
  "¿Cuándo …") is answered by a memory that states a time ("yesterday", "last week", "in May",
  "2022", "at six"). Such candidates get a small additive boost (`temporal_question`,
  `states_time`). The patterns cover English, French and Spanish; other languages simply get no
  boost.

The signals read the candidates' contents and full-text languages in one statement
(`CANDIDATE_SIGNALS_SQL`), run only in hybrid mode, under the caller's tenant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Languages `brain_ts_config` cannot tell ("simple": no stop words decided it).
UNKNOWN_LANGUAGES = frozenset({"simple", ""})

TEMPORAL_QUESTION = re.compile(
    r"^\W*(when|quand|cu[aá]ndo)\b|\b(what|which) (year|month|day|date|time|week)\b|\bhow long ago\b"
    r"|\b(en )?quelle (ann[ée]e|date)\b|\b(en )?qu[ée] (a[nñ]o|fecha|mes|d[ií]a)\b|\bsince when\b",
    re.IGNORECASE,
)
# "may" alone is mostly the verb: the month counts next to a preposition or a day number.
_MONTHS = (
    "january|february|march|april|june|july|august|september|october|november|december"
    "|(in|of|on|since|until|early|late|mid) may|may \\d+(st|nd|rd|th)?|\\d(st|nd|rd|th)? (of )?may"
    "|janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre|d[ée]cembre"
    "|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre"
)
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_HOURS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|noon|midnight|\\d{1,2}(:\\d\\d)?"
# Matched against the lower-cased text, and only at word starts ((?<!\w) is \b there, since every
# alternative begins with a word character): about 4x faster than IGNORECASE with \b, the same
# matches; a search runs it over ~100 candidates for a "when" question.
TIME_EXPRESSION = re.compile(
    rf"(?<!\w)(yesterday|today|tonight|tomorrow|ago|recently|lately|earlier|weekend|o'clock|"
    rf"(last|next|this|past|few|couple of) (week|weeks|month|months|year|years|night|summer|winter|"
    rf"spring|fall|autumn|weekend|day|days|{_DAYS})|{_MONTHS}|{_DAYS}|(19|20)\d\d|"
    rf"(at|by|until|around) ({_HOURS})|\d{{1,2}}(:\d\d)? ?(am|pm)|"
    r"hier|aujourd'hui|demain|ayer|hoy|mañana|la semana pasada|la semaine dernière)\b"
)

#: Per candidate id: its full-text language when it is among `%(top)s` (the vector side's top, the
#: few the cross-lingual switch looks at: brain_ts_config runs eight parsers) or, for a query whose
#: language is not recognised, among `%(keyword_top)s`; and its content when `%(when)s` (a
#: temporal question). The row without an id carries the query's own language.
CANDIDATE_SIGNALS_SQL = """
WITH ql AS (SELECT brain_ts_config(%(query)s)::text AS lang)
SELECT NULL::text AS memory_id, ql.lang, NULL::text AS content FROM ql
UNION ALL
SELECT m.memory_id::text,
       CASE WHEN m.memory_id = ANY(%(top)s::uuid[])
                 OR (ql.lang = 'simple' AND m.memory_id = ANY(%(keyword_top)s::uuid[]))
            THEN brain_ts_config(m.content)::text END,
       CASE WHEN %(when)s THEN m.content END
FROM brain_memories AS m CROSS JOIN ql
WHERE m.scope = %(scope)s AND m.entity_id = %(entity)s AND m.memory_id = ANY(%(ids)s::uuid[])
"""


def temporal_question(question: str) -> bool:
    """The question asks for a time ("When did …", "What year …", "Quand …", "¿Cuándo …")."""
    return TEMPORAL_QUESTION.search(question) is not None


def states_time(text: str) -> bool:
    """The memory states a time: a relative day or period, a month, a weekday, a year, an hour."""
    return TIME_EXPRESSION.search(text.lower()) is not None


def cross_lingual(query_language: str, vector_top: Iterable[str], keyword_top: Iterable[str]) -> bool:
    """Whether one of the vector side's top memories (their languages, `vector_top`) is in a
    recognised language the keyword side does not see. The keyword side sees the query's
    language, or, when Postgres cannot guess it (a short query), its own top hits' languages."""
    seen = {query_language} - UNKNOWN_LANGUAGES or set(keyword_top) - UNKNOWN_LANGUAGES
    return bool(seen) and any(lang not in UNKNOWN_LANGUAGES | seen for lang in vector_top)
