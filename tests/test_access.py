"""Access count and last access (issue 15), written in batches by `brain.access.AccessRecorder`.

Real Postgres, Mem0 and e5. Searches and gets note in memory, a flush writes one statement per
tenant under row-level security. The attacker here (the application role with forged tenant
settings, another tenant's slugs and memory ids, SQL in slugs and queries) is counted in ATTACKS
and must neither read nor bump anyone else's counters (LEAKS stays empty).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from langgraph_brain.brain import MemoryService, MemoryValidationError, open_memory_service
from langgraph_brain.brain.access import AccessRecorder
from langgraph_brain.brain.rows import Tenancy
from langgraph_brain.db import Database, open_async_pool
from langgraph_brain.db.rls import TENANT_SQL, Tenant, acreate_app_role, aread_tenant_key, parse_tenant_key
from langgraph_brain.settings import BrainSettings

ATTACKS: list[str] = []
LEAKS: list[str] = []


@pytest.fixture(scope="module")
def service_settings() -> BrainSettings:
    """No background flush during a test: each test flushes when it wants to look."""
    return BrainSettings(access_flush_seconds=3600)


def _user() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


async def _access_rows(service: MemoryService, scope: str, entity: str) -> dict[str, tuple[int, Any]]:
    """Counters of one tenant as the owner sees them: slug -> (count, last access)."""
    async with service.admin_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT m.slug, a.access_count, a.last_accessed_at FROM brain_memory_access a"
            " JOIN brain_memories m ON m.id = a.brain_id WHERE a.scope = %s AND a.entity_id = %s",
            (scope, entity),
        )
        return {r["slug"]: (r["access_count"], r["last_accessed_at"]) for r in await cur.fetchall()}


# -------------------------------------------------------------------------------- access counts


async def test_searches_and_gets_are_counted_after_a_flush(service: MemoryService) -> None:
    user = _user()
    await service.asave("user", user, "pet", "Ana has a grey cat named Mora.")
    await service.asave("user", user, "car", "Ana drives a red bicycle to work.")
    await service.access.aflush()
    n_search, n_get = 4, 3
    for mode in ("vector", "keyword", "hybrid", "hybrid")[:n_search]:
        hits = await service.asearch("user", user, "cat named Mora", k=1, mode=mode)
        assert [h.slug for h in hits] == ["pet"], mode
    for _ in range(n_get):
        assert await service.aget("user", user, "pet") is not None
    # Not counted: a missing slug, a read before a write, listings, as-of reads.
    assert await service.aget("user", user, "nothing") is None
    await service.aget("user", user, "car", track=False)
    await service.alist("user", user)
    await service.alist_core("user", user, categories=["fact"])
    assert service.access.pending == 1
    assert await _access_rows(service, "user", user) == {}
    await service.access.aflush()
    rows = await _access_rows(service, "user", user)
    assert set(rows) == {"pet"} and rows["pet"][0] == n_search + n_get
    pet = await service.aget("user", user, "pet")
    assert pet is not None and pet.access_count == n_search + n_get
    assert pet.last_accessed_at == rows["pet"][1]
    # The get above counts too, and times only move forward.
    await service.access.aflush()
    again = await _access_rows(service, "user", user)
    assert again["pet"][0] == n_search + n_get + 1 and again["pet"][1] > rows["pet"][1]


async def test_two_processes_add_up_and_keep_the_latest_time(service: MemoryService) -> None:
    """Each process has its own recorder; flushed out of order, counts add and the later time stays."""
    user = _user()
    await service.asave("user", user, "pet", "Hal has a ferret.")
    early = AccessRecorder(service.tenancy, flush_seconds=3600)
    late = AccessRecorder(service.tenancy, flush_seconds=3600)
    early.note("user", user, ["pet"])
    late.note("user", user, ["pet", "pet"])
    assert await late.aflush() == 1
    latest = (await _access_rows(service, "user", user))["pet"][1]
    assert await early.aflush() == 1
    assert (await _access_rows(service, "user", user))["pet"] == (3, latest)
    await early.aclose()
    await late.aclose()


async def test_as_of_reads_are_not_counted(service: MemoryService) -> None:
    """A past version is an audit of what was true, not a use of today's memory."""
    user = _user()
    await service.asave("user", user, "city", "Ana lives in Quito.")
    await service.access.aflush()
    now = datetime.now(UTC)
    past = await service.aget("user", user, "city", as_of=now)
    assert past is not None and past.content == "Ana lives in Quito."
    assert [h.slug for h in await service.asearch("user", user, "Quito", as_of=now)] == ["city"]
    assert service.access.pending == 0


async def test_aclose_flushes_what_is_pending(database: Database) -> None:
    user = _user()
    settings = BrainSettings(access_flush_seconds=3600)
    async with open_memory_service(settings, database=database) as svc:
        await svc.asave("user", user, "pet", "Bea has a dog named Toby.")
        for _ in range(5):
            await svc.asearch("user", user, "dog named Toby", k=1)
        assert svc.access.pending == 1
    async with open_memory_service(settings, database=database) as svc:
        assert (await _access_rows(svc, "user", user))["pet"][0] == 5
        rec = await svc.aget("user", user, "pet", track=False)
        assert rec is not None and rec.access_count == 5


async def test_tracking_off_counts_nothing(database: Database) -> None:
    user = _user()
    async with open_memory_service(BrainSettings(access_tracking=False), database=database) as svc:
        await svc.asave("user", user, "pet", "Cleo has a parrot.")
        await svc.asearch("user", user, "parrot", k=1)
        await svc.aget("user", user, "pet")
        assert svc.access.pending == 0
        await svc.access.aflush()
        assert await _access_rows(svc, "user", user) == {}


async def test_forgotten_memory_loses_its_counters(service: MemoryService) -> None:
    user = _user()
    await service.asave("user", user, "pet", "Dan has a hamster.")
    record = await service.aget("user", user, "pet")
    assert record is not None
    await service.access.aflush()
    assert (await _access_rows(service, "user", user))["pet"][0] == 1
    await service.aget("user", user, "pet")  # noted, not yet flushed, when the forget runs
    await service.aforget("user", user, "pet")

    async def counters_of_the_forgotten_id() -> int:
        async with service.admin_pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM brain_memory_access WHERE brain_id = %s", (record.id,)
            )
            row = await cur.fetchone()
        return int(row["n"]) if row else -1

    assert await counters_of_the_forgotten_id() == 0
    await service.access.aflush()  # the pending count finds no memory: nothing written
    assert await counters_of_the_forgotten_id() == 0 and await _access_rows(service, "user", user) == {}
    await service.asave("user", user, "pet", "Dan has a hamster again.")
    again = await service.aget("user", user, "pet", track=False)
    assert again is not None and again.access_count == 0 and again.last_accessed_at is None


async def test_a_failed_flush_never_fails_a_search_and_keeps_the_counts(
    service: MemoryService, database: Database
) -> None:
    user = _user()
    await service.asave("user", user, "pet", "Eva has a turtle.")
    await service.access.aflush()
    dead = await open_async_pool(database.url, min_size=0, max_size=1)
    await dead.close()
    real = service.access.tenancy
    service.access.tenancy = Tenancy(dead, real.key)
    try:
        for _ in range(3):
            assert [h.slug for h in await service.asearch("user", user, "turtle", k=1)] == ["pet"]
        assert await service.access.aflush() == 0  # failed: logged, kept
        assert service.access.pending == 1 and service.access.dropped == 0
        assert await service.aget("user", user, "pet") is not None
    finally:
        service.access.tenancy = real
    assert await service.access.aflush() == 1
    assert (await _access_rows(service, "user", user))["pet"][0] == 4


async def test_one_tenants_failed_statement_does_not_stop_the_others(service: MemoryService) -> None:
    """The tenants share one pipelined connection: a statement that fails is that tenant's alone."""
    user = _user()
    await service.asave("user", user, "pet", "Fay has a rabbit.")
    recorder = AccessRecorder(service.tenancy, flush_seconds=3600)
    recorder.note("user", "broken\x00tenant", ["pet"])  # Postgres text cannot hold NUL
    recorder.note("user", user, ["pet"])
    recorder.note("user", "broken\x00tenant", ["pet"])
    assert await recorder.aflush() == 1
    assert (await _access_rows(service, "user", user))["pet"][0] == 1
    assert (recorder.pending, recorder.dropped) == (1, 0)  # the failed tenant's count waits
    await recorder.aclose()  # fails again for that tenant: logged, not raised


async def test_a_long_outage_drops_counts_beyond_the_bound(database: Database) -> None:
    dead = await open_async_pool(database.url, min_size=0, max_size=1)
    await dead.close()
    recorder = AccessRecorder(Tenancy(dead, None), flush_seconds=3600, flush_keys=2, max_keys=3)
    recorder.note("user", "x", ["a", "b"])
    recorder.note("user", "x", ["a"])
    await recorder.aflush()
    assert (recorder.pending, recorder.dropped) == (2, 0)
    recorder.note("user", "y", ["c", "d"])
    await recorder.aflush()  # x's 2 keys are kept; y's 2 more would exceed max_keys: given up
    assert (recorder.pending, recorder.dropped) == (2, 2)
    await recorder.aclose()  # its final flush fails too: logged, never raised


def test_recorder_refuses_bad_limits() -> None:
    for kwargs in ({"flush_seconds": 0}, {"flush_seconds": -1}, {"flush_keys": 0}, {"max_keys": 1}):
        with pytest.raises(ValueError, match="flush"):
            AccessRecorder(None, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- row-level security

ROLE = f"brain_sig_{uuid.uuid4().hex[:6]}"
PASSWORD = uuid.uuid4().hex


@pytest.fixture(scope="module")
async def tenants(service: MemoryService, database: Database) -> dict[str, Any]:
    """alice and bob (a memory each, both counted once), the application role and its service."""
    await service.asave("user", "alice", "locker", "Alice's locker code is 1234.")
    await service.asave("user", "bob", "locker", "Bob's locker code is 9876.")
    await service.asave("user", "bob", "bob_only", "Bob's bank is Banco Azul.")
    for who in ("alice", "bob"):
        await service.aget("user", who, "locker")
    await service.aget("user", "bob", "bob_only")
    await service.access.aflush()
    async with database.pool.connection() as conn:
        await acreate_app_role(conn, ROLE, PASSWORD)
        key = parse_tenant_key(await aread_tenant_key(conn))
        ids = {
            r["slug"]: r["id"]
            for r in await (
                await conn.execute("SELECT slug, id FROM brain_memories WHERE entity_id = 'bob'")
            ).fetchall()
        }
    return {"key": key, "url": make_conninfo(database.url, user=ROLE, password=PASSWORD), "bob_ids": ids}


async def _bob(service: MemoryService) -> dict[str, tuple[int, Any]]:
    return await _access_rows(service, "user", "bob")


async def test_forged_tenants_cannot_read_or_bump_counters(
    service: MemoryService, tenants: dict[str, Any]
) -> None:
    before = await _bob(service)
    assert before["locker"][0] == 1
    bob_sig = Tenant.signed(tenants["key"], "user", "bob", "user:bob").params()[3]
    forgeries = {
        "no signature": None,
        "random signature": secrets.token_hex(32),
        "truncated real signature": bob_sig[:32],
        "alice's signature on bob": Tenant.signed(tenants["key"], "user", "alice", "user:alice").params()[3],
    }
    bob_locker = tenants["bob_ids"]["locker"]
    async with await psycopg.AsyncConnection.connect(tenants["url"]) as conn:
        for name, sig in forgeries.items():
            async with conn.transaction():
                await conn.execute(TENANT_SQL, ("user", "bob", "user:bob", sig or ""))
                ATTACKS.append(f"read counters as {name}")
                seen = await (await conn.execute("SELECT * FROM brain_memory_access")).fetchall()
                if seen:
                    LEAKS.append(f"read counters as {name}")
                assert seen == []
                for statement in (
                    "UPDATE brain_memory_access SET access_count = access_count + 100",
                    "DELETE FROM brain_memory_access",
                ):
                    ATTACKS.append(f"{statement.split()[0].lower()} counters as {name}")
                    assert (await conn.execute(statement.encode())).rowcount == 0
            ATTACKS.append(f"insert a counter as {name}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                async with conn.transaction():
                    await conn.execute(TENANT_SQL, ("user", "bob", "user:bob", sig or ""))
                    await conn.execute(
                        "INSERT INTO brain_memory_access VALUES (%s, 'user', 'bob', 100, now())"
                        " ON CONFLICT (brain_id) DO UPDATE SET access_count = 100",
                        (bob_locker,),
                    )
    assert await _bob(service) == before


async def test_signed_tenant_cannot_plant_counters_on_another_tenants_memory(
    service: MemoryService, tenants: dict[str, Any]
) -> None:
    """alice, correctly signed, files a counter row under bob's memory id (ids are guessable)."""
    before = await _bob(service)
    alice = Tenant.signed(tenants["key"], "user", "alice", "user:alice").params()
    async with await psycopg.AsyncConnection.connect(tenants["url"]) as conn:
        for brain_id in tenants["bob_ids"].values():
            for label in (("user", "alice"), ("user", "bob")):
                ATTACKS.append(f"plant a counter on bob's memory {brain_id} labelled {label[1]}")
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                    async with conn.transaction():
                        await conn.execute(TENANT_SQL, alice)
                        await conn.execute(
                            "INSERT INTO brain_memory_access VALUES (%s, %s, %s, 100, now())",
                            (brain_id, *label),
                        )
        async with conn.transaction():
            await conn.execute(TENANT_SQL, alice)
            mine = await (await conn.execute("SELECT brain_id FROM brain_memory_access")).fetchall()
            ATTACKS.append("read counters as alice")
            if any(r[0] in tenants["bob_ids"].values() for r in mine):
                LEAKS.append("alice read bob's counters")
            assert len(mine) == 1
            ATTACKS.append("move alice's counter onto bob's memory")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE brain_memory_access SET brain_id = %s", (tenants["bob_ids"]["bob_only"],)
                    )
    assert await _bob(service) == before


async def test_app_service_searches_and_gets_count_only_the_callers_memories(
    service: MemoryService, tenants: dict[str, Any]
) -> None:
    before = await _bob(service)
    alice_before = (await _access_rows(service, "user", "alice"))["locker"][0]
    pool = await open_async_pool(tenants["url"], min_size=1, max_size=2)
    app = MemoryService(pool, service.index, tenant_key=tenants["key"], access_flush_seconds=3600)
    try:
        queries = [
            "Bob's locker code is 9876",
            "Banco Azul bank",
            "'; UPDATE brain_memory_access SET access_count = 999; --",
            "x' OR '1'='1",
            "locker') OR entity_id = 'bob' --",
        ]
        for query in queries:
            for mode in ("vector", "keyword", "hybrid"):
                ATTACKS.append(f"search as alice for bob's text ({mode}): {query[:20]}")
                hits = await app.asearch("user", "alice", query, k=5, mode=mode)
                if any("9876" in h.content or "Azul" in h.content for h in hits):
                    LEAKS.append(f"search {mode} {query}")
                assert {h.slug for h in hits} <= {"locker"}
        for slug in ("bob_only", "locker"):
            ATTACKS.append(f"get bob's slug {slug} as alice")
            got = await app.aget("user", "alice", slug)
            assert got is None or "1234" in got.content
        for slug in ("bob_only' OR '1'='1", "locker'; DELETE FROM brain_memory_access; --"):
            ATTACKS.append(f"SQL injection in slug: {slug[:20]}")
            with pytest.raises(MemoryValidationError, match="slug"):
                await app.aget("user", "alice", slug)
            # Past validation (straight into the recorder), the slug is only ever a bound value.
            ATTACKS.append(f"SQL injection in a noted slug: {slug[:20]}")
            app.access.note("user", "alice", [slug])
        app.access.note("user", "alice", ["bob_only"])  # bob's slug, alice's tenant: matches nothing
        ATTACKS.append("note bob's slug under alice")
        await app.access.aflush()
        assert app.access.pending == 0
    finally:
        await app.access.aclose()
        await pool.close()
    assert await _bob(service) == before
    alice = await _access_rows(service, "user", "alice")
    assert set(alice) == {"locker"} and alice["locker"][0] > alice_before


def test_attack_count() -> None:
    """Reported: every attempt made against the counters, and how many leaked (must be 0)."""
    print(f"\nsignals attacks: {len(ATTACKS)}, leaks: {len(LEAKS)}")
    assert len(ATTACKS) >= 40 and LEAKS == []
