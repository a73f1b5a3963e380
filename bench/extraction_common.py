"""What bench_extraction_turns.py and bench_worker.py share: one real stack, statements, figures.

`open_stack` opens, on a fresh database of the embedded Postgres (or DATABASE_URL's server), the
real MemoryService (Postgres, Mem0, e5), a BrainSaver, a procrastinate queue App on its own pool
(as `extraction.factory.aopen_queue_app` opens it for the server) and the scripted chat model.
Nothing is faked except the chat model, which is the scripted one and says so.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")
# The scripted model everywhere, even where a key happens to be set: these benchmarks time the
# machinery around the model, and a remote model's seconds would swamp it.
os.environ["BRAIN_MODEL"] = "scripted"
os.environ.pop("BRAIN_EXTRACTION_MODEL", None)

from langchain_core.language_models import BaseChatModel
from procrastinate import App

from langgraph_brain.brain import MemoryService, open_memory_service
from langgraph_brain.checkpointers import BrainSaver
from langgraph_brain.db import Database, create_database, resolve_database_url
from langgraph_brain.demo.models import resolve_chat_model
from langgraph_brain.extraction.factory import aopen_queue_app
from langgraph_brain.settings import BrainSettings

NAMES = ("Ahmed", "Lucía", "Grace", "Karim", "Pilar", "Owen", "Nadia", "Diego", "Emma", "Yacine")
CITIES = ("Oran", "Sevilla", "Leeds", "Lyon", "Valencia", "Bristol", "Tlemcen", "Bilbao", "York")
# Per language: the seed statement (name, business, place, employee count), a preference, and a
# changed fact that updates business_employees. Each sentence matches a scripted rule.
TEMPLATES = {
    "fr": (
        "Je suis {name}, je gère une boulangerie à {city} avec {n} employés.",
        "Je préfère le thé vert.",
        "Maintenant nous avons {m} employés.",
    ),
    "es": (
        "Me llamo {name}, tengo una panadería en {city} con {n} empleados.",
        "Prefiero el café solo.",
        "Ahora tenemos {m} empleados.",
    ),
    "en": (
        "My name is {name}, I run a bakery in {city} with {n} employees.",
        "I prefer green tea.",
        "Now we have {m} employees.",
    ),
}
LANGS = tuple(TEMPLATES)


def statements(i: int, turns: int) -> list[str]:
    """The first `turns` (1-3) statements of user number `i`, in FR, ES or EN by turn of `i`."""
    lang = LANGS[i % len(LANGS)]
    n = 2 + i % 9
    values = {"name": NAMES[i % len(NAMES)], "city": CITIES[i % len(CITIES)], "n": n, "m": n + 2}
    return [t.format(**values) for t in TEMPLATES[lang][:turns]]


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of seconds, in ms (as the other benchmarks compute it)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def load() -> float:
    """1-minute load average."""
    return os.getloadavg()[0]


@dataclass
class Stack:
    """The real parts a benchmark drives (see the module docstring)."""

    url: str
    service: MemoryService
    saver: BrainSaver
    app: App
    model: BaseChatModel


@asynccontextmanager
async def open_stack(data_dir: Path, prefix: str) -> AsyncIterator[Stack]:
    """Open the stack on a new database named after `prefix`; close everything afterwards."""
    server = resolve_database_url(os.environ.get("DATABASE_URL"), data_dir)
    url = create_database(server, prefix)
    settings = BrainSettings()
    db = await Database.aopen(url, min_size=2, max_size=10)
    try:
        async with open_memory_service(settings, database=db) as service:
            saver = BrainSaver(service.pool)
            await saver.setup()
            # No upkeep blueprint: its periodic tasks would run in the middle of a measurement.
            app = await aopen_queue_app(settings, blueprints=(), url=url)
            try:
                yield Stack(url, service, saver, app, resolve_chat_model("scripted", settings=settings))
            finally:
                await app.close_async()
    finally:
        await db.aclose()


async def aturn(graph: Any, thread: str, user: str, text: str) -> float:
    """One turn of `graph` on `thread` as `user`; returns its wall time in seconds."""
    t0 = time.perf_counter()
    await graph.ainvoke(
        {"messages": [{"role": "user", "content": text}]},
        {"configurable": {"thread_id": thread}},
        context={"user_id": user, "company_id": f"co-{user}"},
    )
    return time.perf_counter() - t0


async def arows(service: MemoryService, query: str, *params: Any) -> list[dict[str, Any]]:
    async with service.pool.connection() as conn:
        return list(await (await conn.execute(query, params)).fetchall())
