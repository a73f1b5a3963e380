"""The scripted model's structured output: fixed extraction and summary rules. Not an LLM.

`ScriptedToolCallingModel` answers through `structured_reply` when it is bound to the
extractor's `MemoryOperations` tool or the summariser's `ConversationSummary` tool (which is
what LangChain's `with_structured_output` does). The rules read the human messages of the
rendered `<new_messages>` block, sentence by sentence (questions are skipped), in French, Spanish
and English; each statement becomes an upsert of a stable English slug in user scope, with its
content written in the statement's language (detected per message by marker words):

========================  ==========  =========================================  ==========
statement                 slug        e.g.                                       confidence
========================  ==========  =========================================  ==========
name                      user_name   Je suis Ahmed / Me llamo Ana / My name is  0.95
job                       user_job    je travaille comme… / soy una… / I'm a…    0.85
business                  business_   je gère une… / tengo una panadería /       0.9
                          sector      I run a…; have/j'ai/tengo only with a
                                      business noun (bakery, boulangerie, …)
business place            business_   …une boulangerie à Oran / we moved to…     0.85
                          location
home                      user_       j'habite à… / vivo en… / I live in…        0.85
                          location
employee count            business_   5 employés / 7 empleados / 7 employees     0.9
                          employees
preference                preference_ je préfère / me gusta / I prefer, like     0.8
                          <object>
goal                      goal_<goal> mon objectif est de / quiero / I want to   0.75
========================  ==========  =========================================  ==========

Categories: profile (name, job, home), business, preference, goal. A name or place is a
capitalised word (or several). A later statement of the same kind maps to the same slug
("Now we have 7 employees" updates business_employees). The summary is extractive: the first
sentence of each human message (at most five), after ``[scripted model]``; its entities are
the capitalised words that do not start a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from ..brain.validation import suggest_slug
from ..extraction.operations import MemoryOperations
from ..extraction.prompt import MESSAGES_TAG, read_block
from ..extraction.summarize import CONVERSATION_TAG, ConversationSummary
from .scripted import PREFIX

OPERATIONS_TOOL = MemoryOperations.__name__
SUMMARY_TOOL = ConversationSummary.__name__

_CAP = r"[A-ZÀ-ÖØ-Þ][\w'-]*"
_PLACE = rf"(?P<where>{_CAP}(?:[ -]{_CAP})*)"
_NAME = rf"(?P<v>{_CAP}(?: {_CAP})?)"
_END = r"(?=[,.;:!?]|$)"
_BUSINESS_NOUNS = (
    r"boulangerie|p[âa]tisserie|restaurant|caf[ée]|boutique|magasin|entreprise|soci[ée]t[ée]|commerce|"
    r"pharmacie|[ée]picerie|salon|garage|h[ôo]tel|agence|cabinet|atelier|ferme|start-?up|bakery|shop|"
    r"store|company|business|firm|agency|clinic|farm|studio|panader[íi]a|tienda|empresa|negocio|"
    r"restaurante|cafeter[íi]a|farmacia|taller|agencia|granja|peluquer[íi]a"
)

# (kind, language, pattern, confidence). In a pattern, `v` is the value and `where` a place.
_RULES: tuple[tuple[str, str, str, float], ...] = (
    ("name", "fr", rf"(?i:\bje m'appelle|\bmon (?:pré)?nom est|\bje suis|\bmoi c'est) {_NAME}\b", 0.95),
    ("name", "es", rf"(?i:\bme llamo|\bmi nombre es|\bsoy) {_NAME}\b", 0.95),
    ("name", "en", rf"(?i:\bmy name is|\bi am|\bi'm|\bcall me) {_NAME}\b", 0.95),
    ("job", "fr", r"(?i:\bje travaille (?:comme|en tant que)|\bje suis (?:un|une)|\bmon métier est)"
     r" (?P<v>[^,.;!?]+?)(?=\s(?i:à|au|en|avec|depuis|dans|chez)\b|[,.;!?]|$)", 0.85),
    ("job", "es", r"(?i:\btrabajo (?:como|de)|\bsoy (?:un|una)|\bmi (?:trabajo|profesión) es)"
     r" (?P<v>[^,.;!?]+?)(?=\s(?i:en|con|desde|y)\b|[,.;!?]|$)", 0.85),
    ("job", "en", r"(?i:\bi work as|\bi'm|\bi am|\bmy job is)"
     r" (?P<v>(?i:an?) [^,.;!?]+?)(?=\s(?i:in|at|with|and|for|since)\b|[,.;!?]|$)", 0.85),
    ("business", "fr", r"(?i:\bje (?:gère|dirige|tiens|possède)|\bj'ai ouvert|\bnous (?:gérons|dirigeons)"
     rf"|\b(?P<weak>j'ai|nous avons|on a)) (?P<v>(?i:une?|la|le|l'|mon|ma|notre) ?[^,.;!?]+?)"
     rf"(?=\s(?i:à|au|aux|en|avec|depuis|qui|dans|et)\b|[,.;!?]|$)(?: (?i:à|au|en) {_PLACE})?", 0.9),
    ("business", "es", r"(?i:\b(?:dirijo|gestiono|llevo|regento|administro|abrí)"
     r"|\b(?P<weak>tengo|tenemos)) (?P<v>(?i:una?|el|la|mi|nuestr[ao]) [^,.;!?]+?)"
     rf"(?=\s(?i:en|con|desde|que|y)\b|[,.;!?]|$)(?: (?i:en) {_PLACE})?", 0.9),
    ("business", "en", r"(?i:\bi (?:run|own|manage|opened|started)|\bwe (?:run|own)|\bmy business is"
     r"|\b(?P<weak>i have|we have)) (?P<v>(?i:an?|the|my|our) [^,.;!?]+?)"
     rf"(?=\s(?i:in|at|with|since|that|which|and|for)\b|[,.;!?]|$)(?: (?i:in|at) {_PLACE})?", 0.9),
    ("home", "fr", rf"(?i:\bj'habite|\bje vis|\bje réside) (?i:à|a|au|en) {_PLACE}", 0.85),
    ("home", "es", rf"(?i:\bvivo en|\bresido en) {_PLACE}", 0.85),
    ("home", "en", rf"(?i:\bi live in|\bi'm based in|\bi am based in) {_PLACE}", 0.85),
    ("place", "fr", r"(?i:\bnous sommes (?:installés |basés )?(?:à|a)|\bnous avons déménagé (?:à|a)"
     rf"|\bmon entreprise est (?:située |basée )?(?:à|a)) {_PLACE}", 0.85),
    ("place", "es", rf"(?i:\bmi negocio está en|\bestamos en|\bnos mudamos a) {_PLACE}", 0.85),
    ("place", "en", r"(?i:\bwe are (?:located |based )?in|\bwe're (?:located |based )?in|\bwe moved to"
     rf"|\bmy (?:business|shop|company) is (?:located |based )?in) {_PLACE}", 0.85),
    ("employees", "*", r"(?P<v>\d{1,6}) (?i:employés|employes|salariés|employees|staff|workers|empleados"
     r"|trabajadores)\b", 0.9),
    ("preference", "fr", r"(?i:\bje (?P<verb>préfère)|\bj'(?P<verb2>aime|adore))"
     rf" (?P<v>[^,.;!?]+?){_END}", 0.8),
    ("preference", "es", r"(?i:\b(?P<verb>prefiero)|\bme (?P<verb2>gustan?|encantan?))"
     rf" (?P<v>[^,.;!?]+?){_END}", 0.8),
    ("preference", "en", rf"(?i:\bi (?P<verb>prefer|like|love|enjoy)) (?P<v>[^,.;!?]+?){_END}", 0.8),
    ("goal", "fr", r"(?i:\bmon (?:objectif|but) est d(?:e |')|\bje (?:veux|voudrais|compte)|\bj'aimerais"
     rf"|\bnous voulons) ?(?P<v>[^,.;!?]+?){_END}", 0.75),
    ("goal", "es", r"(?i:\bmi (?:objetivo|meta) es|\bquiero|\bme gustaría|\bqueremos|\bplaneo)"
     rf" (?P<v>[^,.;!?]+?){_END}", 0.75),
    ("goal", "en", r"(?i:\bmy goal is(?: to)?|\bi (?:want|plan|hope) to|\bi'd like to|\bi would like to"
     rf"|\bwe (?:want|plan) to) (?P<v>[^,.;!?]+?){_END}", 0.75),
)  # fmt: skip
_COMPILED = [(kind, lang, re.compile(pattern), conf) for kind, lang, pattern, conf in _RULES]

_TEMPLATES: dict[str, dict[str, str]] = {
    "user_name": {"fr": "L'utilisateur s'appelle {v}.", "es": "El usuario se llama {v}.",
                  "en": "The user's name is {v}."},
    "user_job": {"fr": "L'utilisateur travaille comme {v}.", "es": "El usuario trabaja como {v}.",
                 "en": "The user works as {v}."},
    "business_sector": {"fr": "L'utilisateur gère {v}.", "es": "El usuario tiene {v}.",
                        "en": "The user runs {v}."},
    "business_location": {"fr": "L'entreprise de l'utilisateur est à {v}.",
                          "es": "El negocio del usuario está en {v}.",
                          "en": "The user's business is in {v}."},
    "user_location": {"fr": "L'utilisateur habite à {v}.", "es": "El usuario vive en {v}.",
                      "en": "The user lives in {v}."},
    "business_employees": {"fr": "L'entreprise de l'utilisateur compte {v} employés.",
                           "es": "El negocio del usuario tiene {v} empleados.",
                           "en": "The user's business has {v} employees."},
    "goal": {"fr": "Objectif de l'utilisateur : {v}.", "es": "Objetivo del usuario: {v}.",
             "en": "The user's goal: {v}."},
}  # fmt: skip
# A preference verb -> the statement in the third person, in the verb's language.
_PREFERENCES = {
    "préfère": "L'utilisateur préfère {v}.", "aime": "L'utilisateur aime {v}.",
    "adore": "L'utilisateur adore {v}.", "prefiero": "El usuario prefiere {v}.",
    "gusta": "Al usuario le gusta {v}.", "gustan": "Al usuario le gustan {v}.",
    "encanta": "Al usuario le encanta {v}.", "encantan": "Al usuario le encantan {v}.",
    "prefer": "The user prefers {v}.", "like": "The user likes {v}.", "love": "The user loves {v}.",
    "enjoy": "The user enjoys {v}.",
}  # fmt: skip
_CATEGORY = {"user_name": "profile", "user_job": "profile", "user_location": "profile"}
_ARTICLE = re.compile(r"^(?:(?:the|an?|le|la|les|une?|des|du|el|los|las|una?|mi|my|mon|ma)\s+|l')", re.I)
_MARKERS = {
    "fr": re.compile(r"\b(je|j'|suis|mon|ma|nous|avec|est|une|des|et|maintenant|employés|gère|habite)\b"
                     r"|[éèêçà]", re.I),
    "es": re.compile(r"\b(soy|tengo|mi|con|una|el|los|y|ahora|tenemos|empleados|llamo|vivo|está)\b"
                     r"|[ñ¿¡áíóú]", re.I),
    "en": re.compile(r"\b(i|i'm|my|the|a|an|with|and|have|we|now|is|am|employees)\b", re.I),
}  # fmt: skip
_SENTENCE = re.compile(r"[^.!?;\n]+[.!?;]?")


def language_of(text: str) -> str:
    """The language of `text`, "fr", "es" or "en", by marker words (ties go to English)."""
    scores = {lang: len(pattern.findall(text)) for lang, pattern in _MARKERS.items()}
    best = max(scores.values())
    return "en" if scores["en"] == best else max(scores, key=lambda lang: scores[lang])


def _topic_slug(prefix: str, value: str, words: int) -> str:
    topic = suggest_slug(" ".join(_ARTICLE.sub("", value).split()[:words]))
    return f"{prefix}_{topic}"[:64].strip("_.-")


def _statement(kind: str, lang: str, match: re.Match[str], text_lang: str) -> tuple[str, str] | None:
    """(slug, content) for one matched rule, or None when it does not apply."""
    value = (match.groupdict().get("v") or "").strip()
    if kind == "business" and match.groupdict().get("weak") and not re.search(_BUSINESS_NOUNS, value, re.I):
        return None  # "I have a question" is not a business
    if kind == "name":
        slug = "user_name"
    elif kind == "job":
        slug, value = "user_job", (value if lang == "en" else _ARTICLE.sub("", value))
    elif kind == "business":
        slug = "business_sector"
    elif kind in ("home", "place"):
        slug, value = ("user_location" if kind == "home" else "business_location"), match["where"]
    elif kind == "employees":
        slug = "business_employees"
    elif kind == "preference":
        verb = (match.groupdict().get("verb") or match.groupdict().get("verb2") or "").lower()
        return _topic_slug("preference", value, 3), _PREFERENCES[verb].format(v=value)
    else:
        return _topic_slug("goal", value, 4), _TEMPLATES["goal"][lang].format(v=value)
    return slug, _TEMPLATES[slug][text_lang if lang == "*" else lang].format(v=value)


def extract_operations(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The scripted extraction rules (see the module docstring) over `messages` (id, role, content)."""
    operations: list[dict[str, Any]] = []
    for message in messages:
        if message.get("role") not in ("human", "user"):
            continue
        text = str(message.get("content", "")).replace("’", "'")
        text_lang = language_of(text)
        for sentence in _SENTENCE.findall(text):
            if sentence.strip().endswith("?"):
                continue  # a question states nothing
            for kind, lang, pattern, confidence in _COMPILED:
                for match in pattern.finditer(sentence):
                    made = _statement(kind, lang, match, text_lang)
                    if made is None:
                        continue
                    slug, content = made
                    if kind == "business" and match.groupdict().get("where"):
                        where = _TEMPLATES["business_location"][lang].format(v=match["where"])
                        operations.append(_upsert("business_location", where, 0.85, message))
                    operations.append(_upsert(slug, content, confidence, message))
    return operations


def _upsert(slug: str, content: str, confidence: float, message: dict[str, Any]) -> dict[str, Any]:
    category = _CATEGORY.get(slug) or slug.split("_", 1)[0]
    return {
        "op": "upsert", "scope": "user", "slug": slug, "category": category, "content": content,
        "confidence": confidence, "message_ids": [str(message.get("id", ""))],
    }  # fmt: skip


def _first_sentence(text: str, limit: int = 200) -> str:
    found = _SENTENCE.search(" ".join(text.split()))
    return (found.group(0).strip() if found else "")[:limit]


def summarize_conversation(messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The scripted summary (see the module docstring) of `messages` (id, role, content)."""
    human = [str(m.get("content", "")) for m in messages if m.get("role") in ("human", "user")]
    firsts = [s for s in (_first_sentence(t) for t in human) if s][:5]
    text = f"{PREFIX} Excerpts: " + (" ".join(firsts) if firsts else "no statement from the user.")
    entities: list[str] = []
    for content in human:
        for sentence in _SENTENCE.findall(content):
            # The first word of a sentence is capitalised by grammar, not because it is a name.
            words = re.findall(_CAP, sentence)
            if sentence.strip()[:1].isupper():
                words = words[1:]
            for word in words:
                word = word.strip("'-")
                if len(word) > 1 and word not in entities:
                    entities.append(word)
    return {"text": text, "entities": entities[:20]}


def _block(messages: Sequence[BaseMessage], tag: str) -> list[dict[str, Any]]:
    """The rendered JSON block of the newest human message, or the human messages themselves."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            try:
                return [m for m in read_block(message.text, tag) if isinstance(m, dict)]
            except ValueError:
                break
    return [{"id": m.id or str(i), "role": "human", "content": m.text} for i, m in enumerate(messages)
            if isinstance(m, HumanMessage)]  # fmt: skip


def structured_reply(messages: Sequence[BaseMessage], tools: dict[str, dict[str, Any]]) -> AIMessage | None:
    """The scripted answer when the extractor's or summariser's schema is bound, else None."""
    if OPERATIONS_TOOL in tools:
        name, args = OPERATIONS_TOOL, {"operations": extract_operations(_block(messages, MESSAGES_TAG))}
    elif SUMMARY_TOOL in tools:
        name, args = SUMMARY_TOOL, summarize_conversation(_block(messages, CONVERSATION_TAG))
    else:
        return None
    call = {"name": name, "args": args, "id": f"scripted_structured_{len(messages)}", "type": "tool_call"}
    return AIMessage("", tool_calls=[call])


__all__ = ["OPERATIONS_TOOL", "SUMMARY_TOOL", "extract_operations", "language_of", "structured_reply",
           "summarize_conversation"]  # fmt: skip
