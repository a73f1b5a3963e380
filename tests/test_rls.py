"""Row-level security: the application role sees one *signed* tenant per transaction, and nothing else.

Migration v4 put `brain_memories`/`brain_history` under forced RLS keyed on `brain.scope` and
`brain.entity_id`; v6 requires a signature of the tenant (HMAC-SHA256 under a key only the owner
can read) and puts Mem0's collection `brain_mem0` under the same rule. The attacker here holds the
application role's password and nothing else: every attempt is counted in ATTACKS and must yield
no other tenant's text and change nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from langgraph_brain.brain import BrainConfigurationError, MemoryService, entity_key, open_memory_service
from langgraph_brain.brain.embeddings import embedding_dimensions
from langgraph_brain.brain.erase import aerase_entity
from langgraph_brain.brain.index import IndexMemoryMissing
from langgraph_brain.brain.mem0_oss import Mem0OSSIndex
from langgraph_brain.brain.reconcile import acheck_invariant, areconcile
from langgraph_brain.db import Database, open_async_pool
from langgraph_brain.db.rls import (
    TENANT_SQL,
    Tenant,
    acheck_tenant_key,
    acreate_app_role,
    aread_tenant_key,
    arotate_tenant_key,
    bind_tenant,
    parse_tenant_key,
    tenant_signature,
)
from langgraph_brain.settings import BrainSettings

ROLE = f"brain_app_{uuid.uuid4().hex[:6]}"
PASSWORD = uuid.uuid4().hex  # ignored by the embedded server (trust); required by an external one
ALICE = "Alice's locker code is 1234."
BOB = "Bob's locker code is 9876."
#: What only other tenants' rows hold: none of it may reach the attacker.
VICTIM_TEXT = ("locker code is 1234", "locker code is 9876")
#: Every attack attempt made by this module (name of the attempt), for the report.
ATTACKS: list[str] = []
BRAIN_TABLES = ("brain_memories", "brain_history", "brain_mem0", "user_brain")
BOB_TENANT = ("user", "bob", "user:bob")


@pytest.fixture(scope="module")
async def owner(database: Database) -> AsyncIterator[MemoryService]:
    async with open_memory_service(BrainSettings(), database=database) as svc:
        await svc.asave("user", "alice", "secret", ALICE)
        await svc.asave("user", "bob", "secret", BOB)
        async with database.pool.connection() as conn:
            await acreate_app_role(conn, ROLE, PASSWORD)
        yield svc


@pytest.fixture(scope="module")
async def tenant_key(database: Database, owner: MemoryService) -> bytes:
    async with database.pool.connection() as conn:
        return parse_tenant_key(await aread_tenant_key(conn))


@pytest.fixture(scope="module")
def app_url(database_url: str, owner: MemoryService) -> str:
    return make_conninfo(database_url, user=ROLE, password=PASSWORD)


@pytest.fixture(scope="module")
async def app_index(app_url: str, owner: MemoryService) -> AsyncIterator[Mem0OSSIndex]:
    """Mem0 OSS on the application role: its own SQL goes through RLS too."""
    assert isinstance(owner.index, Mem0OSSIndex)
    embeddings = owner.index.embeddings
    dims = await asyncio.to_thread(embedding_dimensions, embeddings)
    index = await asyncio.to_thread(Mem0OSSIndex.create, app_url, embeddings, dims=dims, pool_max_size=2)
    yield index
    await index.aclose()


@pytest.fixture(scope="module")
async def app_service(
    app_url: str, app_index: Mem0OSSIndex, tenant_key: bytes
) -> AsyncIterator[MemoryService]:
    """The full service as the application role: brain statements and Mem0 both restricted."""
    pool = await open_async_pool(app_url, min_size=1, max_size=4)
    yield MemoryService(pool, app_index, tenant_key=tenant_key)
    await pool.close()


def _sign(key: bytes, scope: str, entity: str, index_key: str | None = None) -> Tenant:
    return Tenant.signed(key, scope, entity, entity_key(scope, entity) if index_key is None else index_key)


async def _as_tenant(conn: psycopg.AsyncConnection[Any], params: tuple[Any, ...]) -> None:
    await conn.execute(TENANT_SQL, params)


async def _rows(conn: psycopg.AsyncConnection[Any]) -> dict[str, list[str]]:
    """Every text the current transaction can see in the brain tables."""
    seen = {
        "brain_memories": "SELECT content FROM brain_memories",
        "brain_history": "SELECT coalesce(new_content, old_content) FROM brain_history",
        "brain_mem0": "SELECT payload->>'data' FROM brain_mem0",
        "user_brain": "SELECT content FROM user_brain",
    }
    out: dict[str, list[str]] = {}
    for table, query in seen.items():
        out[table] = [r[0] for r in await (await conn.execute(query.encode())).fetchall()]
    return out


def _no_victim_text(seen: Any, attack: str) -> None:
    ATTACKS.append(attack)
    text = json.dumps(seen, default=str)
    for fragment in VICTIM_TEXT:
        assert fragment not in text, f"leak through {attack}: {text[:300]}"


async def _owner_mem0(database: Database) -> list[tuple[str, str]]:
    async with database.pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT payload->>'user_id' AS u, payload->>'data' AS d FROM brain_mem0 ORDER BY 1, 2"
            )
        ).fetchall()
    return [(r["u"], r["d"]) for r in rows]


# ---------------------------------------------------------------------- the role and the key


async def test_app_role_is_neither_owner_nor_superuser(app_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(app_url) as conn:
        row = await (
            await conn.execute(
                "SELECT r.rolsuper, r.rolbypassrls, t.tableowner = current_user AS owns"
                " FROM pg_roles r, pg_tables t"
                " WHERE r.rolname = current_user AND t.tablename = 'brain_mem0'"
            )
        ).fetchone()
    assert row == (False, False, False)


async def test_sql_signature_matches_python(database: Database, tenant_key: bytes) -> None:
    """brain_hmac_sha256 is RFC 2104 HMAC-SHA256 (any key length), and the tenant message matches."""
    async with database.pool.connection() as conn:
        for key_len in (1, 32, 63, 64, 65, 200):
            for msg_len in (0, 7, 150):
                key, msg = secrets.token_bytes(key_len), secrets.token_bytes(msg_len)
                row = await (
                    await conn.execute("SELECT brain_hmac_sha256(%s, %s) AS h", (key, msg))
                ).fetchone()
                assert row == {"h": hmac.new(key, msg, hashlib.sha256).digest()}, (key_len, msg_len)
        for scope, entity in (("user", "alice"), ("company", "acme corp"), ("user", "ñandú%20\u200b")):
            index_key = entity_key(scope, entity)
            row = await (
                await conn.execute(
                    "SELECT encode(brain_hmac_sha256(%s, brain_tenant_message(%s, %s, %s)), 'hex') AS s",
                    (tenant_key, scope, entity, index_key),
                )
            ).fetchone()
            assert row == {"s": tenant_signature(tenant_key, scope, entity, index_key)}


async def test_app_role_cannot_read_change_or_bypass_the_key(
    app_url: str, database: Database, tenant_key: bytes
) -> None:
    attempts: list[tuple[str, str]] = [
        ("read the key", "SELECT key FROM brain_tenant_keys"),
        ("overwrite the key", "UPDATE brain_tenant_keys SET key = '\\x00'"),
        ("add a key row", "INSERT INTO brain_tenant_keys (id, key) VALUES (2, '\\x00')"),
        ("delete the key", "DELETE FROM brain_tenant_keys"),
        ("truncate brain_mem0", "TRUNCATE brain_mem0"),
        ("turn RLS off on brain_mem0", "ALTER TABLE brain_mem0 DISABLE ROW LEVEL SECURITY"),
        ("stop forcing RLS", "ALTER TABLE brain_mem0 NO FORCE ROW LEVEL SECURITY"),
        ("drop the Mem0 policy", "DROP POLICY brain_mem0_tenant ON brain_mem0"),
        ("rewrite the tenant policy", "ALTER POLICY brain_memories_tenant ON brain_memories USING (true)"),
        ("add a permissive policy", "CREATE POLICY mine ON brain_mem0 USING (true)"),
        (
            "replace the checker",
            "CREATE OR REPLACE FUNCTION brain_tenant_ok() RETURNS boolean LANGUAGE sql RETURN true",
        ),
        ("become the owner", "SET ROLE postgres"),
        ("grant itself the key", f"GRANT SELECT ON brain_tenant_keys TO {ROLE}"),
        (
            "register an approximate index for a tenant",
            "INSERT INTO brain_vector_indexes (index_key, index_name, dims, rows)"
            " VALUES ('user:alice', 'x', 384, 1)",
        ),
        ("rewrite the index registry", "UPDATE brain_vector_indexes SET dims = 3"),
        ("empty the index registry", "DELETE FROM brain_vector_indexes"),
        ("forge BM25 statistics", "UPDATE brain_tenant_stats SET docs = 1"),
        ("plant BM25 statistics", "INSERT INTO brain_tenant_stats VALUES ('user', 'bob', 1, 1)"),
        ("build an index on Mem0's table", "CREATE INDEX evil ON brain_mem0 ((payload->>'data'))"),
    ]
    async with await psycopg.AsyncConnection.connect(app_url, autocommit=True) as conn:
        for name, statement in attempts:
            ATTACKS.append(name)
            with pytest.raises(psycopg.errors.Error):
                await conn.execute(statement.encode())
        ATTACKS.append("read the key through aread_tenant_key")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await aread_tenant_key(conn)
        # Any role may create temporary functions; a shadow checker first on the search_path changes
        # nothing, because the policies name brain_tenant_ok() by its oid, bound at creation.
        ATTACKS.append("shadow the checker in pg_temp")
        await conn.execute(
            "CREATE FUNCTION pg_temp.brain_tenant_ok() RETURNS boolean LANGUAGE sql RETURN true"
        )
        await conn.execute("SET search_path = pg_temp, public")
        async with conn.transaction():
            await _as_tenant(conn, ("user", "bob", "user:bob", ""))
            row = await (
                await conn.execute(
                    "SELECT public.brain_tenant_ok(), (SELECT count(*) FROM brain_memories),"
                    " (SELECT count(*) FROM brain_mem0)"
                )
            ).fetchone()
            assert row == (False, 0, 0)
    # Even a SELECT granted by mistake later shows no key: the table's RLS admits only the owner.
    async with database.pool.connection() as owner_conn:
        await owner_conn.execute(f"GRANT SELECT ON brain_tenant_keys TO {ROLE}".encode())
    try:
        async with await psycopg.AsyncConnection.connect(app_url) as conn:
            ATTACKS.append("read the key after a mistaken grant")
            assert await (await conn.execute("SELECT key FROM brain_tenant_keys")).fetchall() == []
    finally:
        async with database.pool.connection() as owner_conn:
            await owner_conn.execute(f"REVOKE SELECT ON brain_tenant_keys FROM {ROLE}".encode())
    # ... and the owner can read it (that is how `brain migrate` prints it).
    async with database.pool.connection() as owner_conn:
        assert bytes.fromhex(await aread_tenant_key(owner_conn)) == tenant_key


# ---------------------------------------------------------------------- forged tenants


async def test_no_tenant_set_means_no_rows(app_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(app_url, autocommit=True) as conn:
        for table in BRAIN_TABLES:
            row = await (await conn.execute(f"SELECT count(*) FROM {table}".encode())).fetchone()
            assert row == (0,), table
        _no_victim_text(await _rows(conn), "no tenant at all")


async def test_forged_tenants_see_and_change_nothing(
    app_url: str, database: Database, tenant_key: bytes
) -> None:
    """set_config works for any role; without the key no forged tenant opens a row."""
    wrong_key = secrets.token_bytes(32)
    alice_sig = tenant_signature(tenant_key, "user", "alice", "user:alice")
    bob_sig = tenant_signature(tenant_key, "user", "bob", "user:bob")
    forgeries: dict[str, tuple[str, str, str, str | None]] = {
        "no signature (NULL)": ("user", "bob", "user:bob", None),  # first: the session never set one
        "unsigned tenant": ("user", "bob", "user:bob", ""),
        "random signature": ("user", "bob", "user:bob", secrets.token_hex(32)),
        "signed with a guessed key": ("user", "bob", "user:bob", tenant_signature(wrong_key, *BOB_TENANT)),
        "all-zero key": ("user", "bob", "user:bob", tenant_signature(bytes(32), *BOB_TENANT)),
        "plain SHA-256 of the tenant": (
            "user", "bob", "user:bob", hashlib.sha256(b"user\0bob\0user:bob").hexdigest(),
        ),
        "upper-case copy of a real signature": ("user", "bob", "user:bob", bob_sig.upper()),
        "truncated real signature": ("user", "bob", "user:bob", bob_sig[:32]),
        # Alice's genuine signature (say it leaked) replayed for another tenant or Mem0 key:
        "alice's signature on bob": ("user", "bob", "user:bob", alice_sig),
        "alice's signature, bob's Mem0 key": ("user", "alice", "user:bob", alice_sig),
        "alice's signature, other scope": ("company", "alice", "company:alice", alice_sig),
        "alice's signature, padded entity": ("user", "alice ", "user:alice", alice_sig),
    }  # fmt: skip
    before = await _owner_mem0(database)
    async with await psycopg.AsyncConnection.connect(app_url) as conn:
        for name, (scope, entity, index_key, sig) in forgeries.items():
            async with conn.transaction():
                await conn.execute(
                    "SELECT set_config('brain.scope', %s, true), set_config('brain.entity_id', %s, true),"
                    " set_config('brain.index_key', %s, true)",
                    (scope, entity, index_key),
                )
                if sig is not None:
                    await conn.execute("SELECT set_config('brain.tenant_sig', %s, true)", (sig,))
                seen = await _rows(conn)
                _no_victim_text(seen, f"read as {name}")
                assert all(not v for v in seen.values()), (name, seen)
                for statement in (
                    'UPDATE brain_mem0 SET payload = payload || \'{"data": "pwned"}\'',
                    "DELETE FROM brain_mem0",
                    "UPDATE brain_memories SET content = 'pwned'",
                    "DELETE FROM brain_history",
                ):
                    ATTACKS.append(f"{statement.split()[0].lower()} as {name}")
                    assert (await conn.execute(statement.encode())).rowcount == 0, (name, statement)
            ATTACKS.append(f"plant a Mem0 row as {name}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                async with conn.transaction():
                    await _as_tenant(conn, (scope, entity, index_key, sig or ""))
                    await conn.execute(
                        "INSERT INTO brain_mem0 (id, vector, payload) VALUES (%s, '[1,2,3]', %s)",
                        (uuid.uuid4(), json.dumps({"user_id": index_key, "data": "planted"})),
                    )
        # Session-level settings (plain SET, not SET LOCAL) forge no better.
        ATTACKS.append("session-level SET of a tenant")
        await conn.execute("SET brain.scope = 'user'")
        await conn.execute("SET brain.entity_id = 'bob'")
        await conn.execute("SET brain.index_key = 'user:bob'")
        await conn.execute(f"SET brain.tenant_sig = '{secrets.token_hex(32)}'".encode())
        assert all(not v for v in (await _rows(conn)).values())
        await conn.rollback()
    assert await _owner_mem0(database) == before


async def test_signed_tenant_sees_only_itself_and_cannot_write_others(
    app_url: str, database: Database, tenant_key: bytes
) -> None:
    before = await _owner_mem0(database)
    async with await psycopg.AsyncConnection.connect(app_url) as conn:
        await _as_tenant(conn, _sign(tenant_key, "user", "alice").params())
        seen = await _rows(conn)
        assert seen["brain_memories"] == [ALICE] and seen["brain_mem0"] == [ALICE], seen
        assert BOB not in json.dumps(seen)
        ATTACKS.append("signed alice: read bob's BM25 statistics")
        stats = await (await conn.execute("SELECT entity_id FROM brain_tenant_stats")).fetchall()
        assert [r[0] for r in stats] == ["alice"]
        for statement in (
            "UPDATE brain_memories SET content = 'pwned' WHERE entity_id = 'bob'",
            'UPDATE brain_mem0 SET payload = payload || \'{"data": "pwned"}\''
            " WHERE payload->>'user_id' = 'user:bob'",
            "DELETE FROM brain_mem0 WHERE payload->>'user_id' = 'user:bob'",
            "DELETE FROM brain_history WHERE entity_id = 'bob'",
        ):
            ATTACKS.append(f"signed alice: {statement[:40]}")
            assert (await conn.execute(statement.encode())).rowcount == 0
        # Moving its own Mem0 row under bob's key (to poison bob's search) fails the WITH CHECK.
        ATTACKS.append("signed alice: move own Mem0 row to bob")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            await conn.execute('UPDATE brain_mem0 SET payload = payload || \'{"user_id": "user:bob"}\'')
        await conn.rollback()
        await _as_tenant(conn, _sign(tenant_key, "user", "alice").params())
        ATTACKS.append("signed alice: plant a brain row for bob")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            await conn.execute(
                "INSERT INTO brain_memories (scope, entity_id, slug, content, category, content_hash)"
                " VALUES ('user', 'bob', 'planted', 'x', 'fact', 'h')"
            )
        await conn.rollback()
    assert await _owner_mem0(database) == before


async def test_signatures_never_appear_where_other_sessions_can_read(
    app_url: str, app_service: MemoryService, app_index: Mem0OSSIndex, tenant_key: bytes
) -> None:
    """pg_stat_activity shows every session's last statement to the same role: the tenant (and its
    signature) must travel as bind parameters, for the brain pool and for Mem0's pool alike."""
    sig = _sign(tenant_key, "user", "alice").sig
    held = threading.Event()
    release = threading.Event()

    def hold_mem0_connection() -> None:
        with bind_tenant(_sign(tenant_key, "user", "alice")), app_index.sync_pool.connection():
            held.set()
            release.wait(30)

    async with app_service.tenancy.connection("user", "alice"):  # idle in transaction, tenant just set
        holder = asyncio.create_task(asyncio.to_thread(hold_mem0_connection))
        await asyncio.to_thread(held.wait, 30)
        try:
            async with await psycopg.AsyncConnection.connect(app_url, autocommit=True) as spy:
                ATTACKS.append("read signatures from pg_stat_activity")
                rows = await (
                    await spy.execute(
                        "SELECT query FROM pg_stat_activity"
                        " WHERE usename = current_user AND pid <> pg_backend_pid()"
                    )
                ).fetchall()
        finally:
            release.set()
            await holder
    texts = [r[0] for r in rows]
    assert sum("brain.tenant_sig" in t for t in texts) >= 2, texts  # both tenant statements are visible
    assert not any(sig in t or "alice" in t for t in texts), texts


async def test_pooled_connections_do_not_leak_the_tenant(
    app_url: str, app_index: Mem0OSSIndex, tenant_key: bytes
) -> None:
    pool = await open_async_pool(app_url, min_size=1, max_size=1)
    try:
        async with pool.connection() as conn, conn.transaction():
            await _as_tenant(conn, _sign(tenant_key, "user", "alice").params())
            seen = await (await conn.execute("SELECT count(*) AS n FROM brain_memories")).fetchone()
            assert seen == {"n": 1}
        async with pool.connection() as conn:  # the same single connection, next transaction
            row = await (
                await conn.execute(
                    "SELECT coalesce(current_setting('brain.tenant_sig', true), '') AS sig,"
                    " (SELECT count(*) FROM brain_memories) AS n, (SELECT count(*) FROM brain_mem0) AS m"
                )
            ).fetchone()
            assert row == {"sig": "", "n": 0, "m": 0}
    finally:
        await pool.close()

    # Mem0's pool: a checkout with alice bound, then checkouts with nothing bound, on whichever
    # of its connections comes back (the first one included).
    def read(bound: Tenant | None) -> tuple[str, int]:
        def query() -> tuple[str, int]:
            with app_index.sync_pool.connection() as conn:
                row = conn.execute(
                    "SELECT coalesce(current_setting('brain.tenant_sig', true), ''), count(*) FROM brain_mem0"
                ).fetchone()
                assert row is not None
                return str(row[0]), int(row[1])

        if bound is None:
            return query()
        with bind_tenant(bound):
            return query()

    alice = _sign(tenant_key, "user", "alice")
    assert await asyncio.to_thread(read, alice) == (alice.sig, 1)
    for _ in range(3):
        ATTACKS.append("reuse a Mem0 connection after a tenant's call")
        assert await asyncio.to_thread(read, None) == ("", 0)


# ---------------------------------------------------------------------- the service as the app role


async def test_memory_service_works_under_rls(
    app_service: MemoryService, owner: MemoryService, database: Database
) -> None:
    await app_service.acheck_tenant_access()
    saved = await app_service.asave("user", "carol", "pet", "Carol has a cat named Mora.")
    assert saved.status == "created"
    # An update goes through Mem0's update, which reads the memory by id first (under the tenant).
    updated = await app_service.asave("user", "carol", "pet", "Carol has a grey cat named Mora.")
    assert (updated.status, updated.memory_id) == ("updated", saved.memory_id)
    await app_service.asave("user", "carol", "pet.2", "Carol also keeps two goldfish.", category="preference")
    for mode in ("vector", "hybrid", "keyword"):
        hits = await app_service.asearch("user", "carol", "what pet does Carol have? cat", k=5, mode=mode)
        assert hits and hits[0].slug == "pet", mode
        assert all("Carol" in h.content for h in hits), mode
    assert [r.slug for r in await app_service.alist("user", "carol")] == ["pet", "pet.2"]
    assert [r.slug for r in await app_service.alist("user", "alice")] == ["secret"]
    assert [r.slug for r in await app_service.alist_core("user", "carol", categories=["preference"])] == [
        "pet.2"
    ]
    got = await app_service.aget("user", "carol", "pet")
    assert got is not None and got.content == "Carol has a grey cat named Mora."
    for mode in ("vector", "hybrid", "keyword"):
        ATTACKS.append(f"service search for another tenant's text ({mode})")
        _no_victim_text(
            [h.as_dict() for h in await app_service.asearch("user", "carol", "locker code 1234", mode=mode)],
            f"carol's {mode} search",
        )
        assert await app_service.asearch("user", "dave", "locker code", mode=mode) == []
    history = await app_service.ahistory("user", "carol", "pet")
    assert [h.action for h in history] == ["update", "create"]
    # Mem0's copy sits under carol's key, with the updated text (the owner sees every row).
    mem0 = [(u, d) for u, d in await _owner_mem0(database) if u == "user:carol"]
    assert mem0 == [
        ("user:carol", "Carol also keeps two goldfish."),
        ("user:carol", "Carol has a grey cat named Mora."),
    ]
    # Forget: Mem0's delete also reads the memory first.
    await app_service.aforget("user", "carol", "pet")
    await app_service.aforget("user", "carol", "pet.2")
    assert await owner.aget("user", "carol", "pet") is None
    assert [u for u, _ in await _owner_mem0(database)] == ["user:alice", "user:bob"]
    # The owner still sees (and can check) everything.
    assert (await acheck_invariant(owner)).ok


async def test_mem0_id_only_calls_cannot_reach_another_tenant(
    app_service: MemoryService, app_index: Mem0OSSIndex, owner: MemoryService, database: Database
) -> None:
    """Mem0's get/update/delete take only a memory id: with bob's tenant bound, alice's id is unknown."""
    alice = await owner.aget("user", "alice", "secret")
    assert alice is not None and alice.memory_id
    before = await _owner_mem0(database)
    with app_service.tenancy.bind_index("user", "bob"):
        ATTACKS.append("Mem0 get of another tenant's id")
        assert await app_index.aget(alice.memory_id) is None
        ATTACKS.append("Mem0 update of another tenant's id")
        with pytest.raises(IndexMemoryMissing):
            await app_index.aupdate(alice.memory_id, "pwned", metadata={})
        ATTACKS.append("Mem0 delete of another tenant's id")
        assert await app_index.adelete(alice.memory_id) is False
        ATTACKS.append("Mem0 list by another tenant's brain_id")
        assert await app_index.alist(brain_id=alice.id) == []
        ATTACKS.append("Mem0 bulk add under another tenant's key")
        with pytest.raises(BrainConfigurationError):
            await app_index.aadd_many([("planted", "user:alice", {}, None)])
        ATTACKS.append("Mem0 search under another tenant's key")
        with pytest.raises(BrainConfigurationError):
            await app_index.asearch("locker code", entity_key="user:alice", k=5)
    assert await _owner_mem0(database) == before


async def test_wrong_or_missing_key_is_refused_up_front(
    app_url: str, app_index: Mem0OSSIndex, owner: MemoryService, tenant_key: bytes
) -> None:
    pool = await open_async_pool(app_url, min_size=1, max_size=2)
    try:
        for key in (None, secrets.token_bytes(32)):
            service = MemoryService(pool, app_index, tenant_key=key)
            with pytest.raises(BrainConfigurationError, match="BRAIN_TENANT_KEY"):
                await service.acheck_tenant_access()
            ATTACKS.append(f"service with {'no' if key is None else 'a wrong'} key")
            assert await service.alist("user", "alice") == []
            _no_victim_text(
                [h.as_dict() for h in await service.asearch("user", "alice", "locker code")], "keyless"
            )
        await MemoryService(pool, app_index, tenant_key=tenant_key).acheck_tenant_access()
        await owner.acheck_tenant_access()  # the owner needs no key
        async with pool.connection() as conn:
            assert await acheck_tenant_key(conn, tenant_key) is True
            assert await acheck_tenant_key(conn, tenant_key[:-1] + bytes([tenant_key[-1] ^ 1])) is False
    finally:
        await pool.close()
    with pytest.raises(ValueError):
        parse_tenant_key("00" * 16)
    with pytest.raises(ValueError):
        parse_tenant_key("not hex")


async def test_cross_tenant_maintenance_needs_the_owner(
    app_service: MemoryService, app_index: Mem0OSSIndex, owner: MemoryService, database: Database
) -> None:
    """Reconcile with an app-role index would list no Mem0 memory and re-add every row; it refuses
    (even with the owner's pool for brain rows), and as the owner it finds nothing to repair."""
    before = await _owner_mem0(database)
    assert isinstance(owner.index, Mem0OSSIndex)
    assert (await app_index.asees_every_tenant(), await owner.index.asees_every_tenant()) == (False, True)
    mixed = MemoryService(app_service.pool, app_index, admin_pool=database.pool)
    for name, job in (
        ("reconcile", areconcile(mixed)),
        ("check", acheck_invariant(mixed)),
        ("list", app_index.alist()),
    ):
        ATTACKS.append(f"cross-tenant {name} as the app role")
        with pytest.raises(BrainConfigurationError, match="owner role"):
            await job
    assert await _owner_mem0(database) == before
    report = await areconcile(owner)
    assert (report.failed, report.changes) == (0, 0)


async def test_key_rotation_locks_out_the_old_key(
    app_url: str, app_index: Mem0OSSIndex, database: Database, tenant_key: bytes
) -> None:
    pool = await open_async_pool(app_url, min_size=1, max_size=2)
    try:
        async with database.pool.connection() as conn:
            new_key = bytes.fromhex(await arotate_tenant_key(conn))
        try:
            assert new_key != tenant_key
            ATTACKS.append("old key after rotation")
            assert await MemoryService(pool, app_index, tenant_key=tenant_key).alist("user", "alice") == []
            fresh = MemoryService(pool, app_index, tenant_key=new_key)
            assert [r.content for r in await fresh.alist("user", "alice")] == [ALICE]
            assert [h.slug for h in await fresh.asearch("user", "alice", "locker code", mode="vector")] == [
                "secret"
            ]
        finally:
            async with database.pool.connection() as conn:
                await conn.execute("UPDATE brain_tenant_keys SET key = %s", (tenant_key,))
    finally:
        await pool.close()


async def test_a_non_superuser_owner_keeps_every_row(server_url: str, superuser_url: str) -> None:
    """Forced RLS applies to the table owner too: the owner policies of v4 and v6 (not a superuser's
    bypass, as on the embedded server) must let it migrate, read the key, reconcile and erase."""
    suffix = uuid.uuid4().hex[:8]
    owner_role, password, dbname = f"brain_owner_{suffix}", uuid.uuid4().hex, f"rls_owner_{suffix}"
    app_role = f"brain_app_{suffix}"
    with psycopg.connect(superuser_url, autocommit=True) as su:
        su.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
                sql.Identifier(owner_role), sql.Literal(password)
            )
        )
        su.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(owner_role))
        )
    with psycopg.connect(make_conninfo(superuser_url, dbname=dbname), autocommit=True) as su:
        su.execute("CREATE EXTENSION IF NOT EXISTS vector")
    owner_url = make_conninfo(server_url, user=owner_role, password=password, dbname=dbname)
    db = await Database.aopen(owner_url, min_size=1, max_size=4)
    try:
        async with open_memory_service(BrainSettings(), database=db) as svc:
            await svc.acheck_tenant_access()
            await svc.asave("user", "alice", "secret", ALICE)
            await svc.asave("user", "bob", "secret", BOB)
            assert isinstance(svc.index, Mem0OSSIndex) and await svc.index.asees_every_tenant()
            async with db.pool.connection() as conn:
                row = await (
                    await conn.execute(
                        "SELECT (SELECT count(*) FROM brain_mem0) AS m,"
                        " (SELECT count(*) FROM brain_memories) AS b,"
                        " (SELECT count(*) FROM brain_history) AS h, r.rolsuper FROM pg_roles r"
                        " WHERE r.rolname = current_user"
                    )
                ).fetchone()
                assert row == {"m": 2, "b": 2, "h": 2, "rolsuper": False}
                key = parse_tenant_key(await aread_tenant_key(conn))
                await acreate_app_role(conn, app_role, password=password)
            assert (await acheck_invariant(svc)).ok
            assert (await areconcile(svc)).changes == 0
            app_pool = await open_async_pool(make_conninfo(owner_url, user=app_role), min_size=1, max_size=2)
            try:
                app = MemoryService(app_pool, svc.index, tenant_key=key)
                await app.acheck_tenant_access()
                assert [r.content for r in await app.alist("user", "alice")] == [ALICE]
                ATTACKS.append("unsigned tenant on a non-superuser owner's database")
                assert await MemoryService(app_pool, svc.index).alist("user", "bob") == []
            finally:
                await app_pool.close()
            report = await aerase_entity(svc, "user", "bob")
            assert (report.brain_rows, report.index_memories) == (1, 1)
            assert [h.content for h in await svc.index.alist()] == [ALICE]
    finally:
        await db.aclose()


def test_attack_count() -> None:
    """Every attempt above ran and leaked nothing (a leak fails its own test first)."""
    print(f"\nRLS attack attempts: {len(ATTACKS)}, leaks: 0")
    path = os.environ.get("BRAIN_RELIABILITY_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"suite": "rls", "attacks": len(ATTACKS), "leaks": 0}) + "\n")
    assert ATTACKS
