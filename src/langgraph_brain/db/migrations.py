"""Append-only schema migrations for langgraph-brain's own tables.

The index of an entry in `MIGRATIONS` is its version. Entries that have shipped are never
edited or reordered: a change is a new entry at the end. The checkpointer's tables are created
by langgraph-checkpoint-postgres' own `setup()` and the checkpointer's own list, not here (v3
created `chat_messages` here before that list existed; it stays, harmless, `IF NOT EXISTS` there).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, Connection

from .migrations_scale import V7_VECTOR_INDEXES, V8_TENANT_STATS
from .migrations_time import V9_SIGNALS, V10_RETENTION
from .migrator import MigrationSet

# Arbitrary but fixed: every process that migrates takes this lock first, so many processes
# can start at once against an empty database and exactly one applies each migration.
MIGRATION_LOCK_KEY = 0x6272_6169_6E00  # "brain\0"

MIGRATIONS: list[str] = [
    # v0: version table only, so the runner has somewhere to record progress.
    """
    CREATE TABLE IF NOT EXISTS brain_migrations (
        v integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    );
    """,
    # v1: the brain table, its audit log and the seed-compatible views.
    r"""
    CREATE EXTENSION IF NOT EXISTS vector;

    CREATE TABLE brain_memories (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        scope         text NOT NULL CHECK (scope IN ('user', 'company')),
        entity_id     text NOT NULL CHECK (entity_id <> ''),
        slug          text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9_.-]{0,127}$'),
        content       text NOT NULL CHECK (content <> ''),
        category      text NOT NULL,
        metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
        content_hash  text NOT NULL,
        memory_id     uuid UNIQUE,
        sync_state    text NOT NULL DEFAULT 'pending'
                      CHECK (sync_state IN ('pending', 'synced', 'deleting')),
        version       integer NOT NULL DEFAULT 1,
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        UNIQUE (scope, entity_id, slug)
    );
    -- reconcile walks rows that are not synced; keep that scan off the main table.
    CREATE INDEX brain_memories_unsynced_idx ON brain_memories (id) WHERE sync_state <> 'synced';

    -- No foreign key to brain_memories: the history of a forgotten memory outlives its row.
    CREATE TABLE brain_history (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        brain_id     bigint NOT NULL,
        scope        text NOT NULL,
        entity_id    text NOT NULL,
        slug         text NOT NULL,
        action       text NOT NULL CHECK (action IN ('create', 'update', 'forget')),
        old_content  text,
        new_content  text,
        category     text,
        version      integer NOT NULL,
        actor        jsonb NOT NULL DEFAULT '{}'::jsonb,
        reason       text,
        created_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX brain_history_key_idx ON brain_history (scope, entity_id, slug, id);

    CREATE VIEW user_brain AS
        SELECT id, entity_id AS user_id, slug, content, category, metadata, sync_state,
               version, created_at, updated_at
        FROM brain_memories WHERE scope = 'user';
    CREATE VIEW company_brain AS
        SELECT id, entity_id AS company_id, slug, content, category, metadata, sync_state,
               version, created_at, updated_at
        FROM brain_memories WHERE scope = 'company';
    """,
    # v2: Mem0's pgvector collection, created by us so that we own its indexes. Mem0 skips
    # creating a collection that exists. No HNSW index on purpose: tenant-scoped search with a
    # post-filtered HNSW scan loses recall for small tenants (pgvector's own warning). The
    # btree on the entity key turns every search into an exact scan of one tenant's rows.
    # `vector` has no fixed dimension so the embedder can be swapped (after re-embedding).
    """
    CREATE TABLE brain_mem0 (
        id      uuid PRIMARY KEY,
        vector  vector NOT NULL,
        payload jsonb
    );
    CREATE INDEX brain_mem0_entity_idx ON brain_mem0 ((payload->>'user_id'));
    CREATE INDEX brain_mem0_brain_id_idx ON brain_mem0 ((payload->>'brain_id'));
    CREATE INDEX brain_mem0_text_lemmatized_idx ON brain_mem0
        USING gin (to_tsvector('simple', payload->>'text_lemmatized'));
    """,
    # v3: the chat transcript that compaction moves old messages into (checkpointers/transcript.py).
    # `seq` orders messages within a thread and is the pagination cursor (no OFFSET).
    # UNIQUE (thread_id, message_id) makes archiving idempotent: a compaction retried after a
    # crash, before its RemoveMessage checkpoint was saved, inserts nothing twice.
    # The message is stored as the checkpointer's own serde (type + blob), so whatever the
    # checkpointer round-trips (NUL characters included) the transcript round-trips too.
    """
    CREATE TABLE chat_messages (
        seq         bigint GENERATED ALWAYS AS IDENTITY,
        thread_id   text NOT NULL,
        message_id  text NOT NULL,
        role        text NOT NULL,
        type        text NOT NULL,
        blob        bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (thread_id, seq),
        UNIQUE (thread_id, message_id)
    );
    """,
    # v4: row-level security on the brain tables, forced, so that even the table owner goes
    # through a policy. The application role (see db/rls.py) sees one tenant: the one set with
    # set_config('brain.scope'/'brain.entity_id', …, true) in the current transaction; with no
    # tenant set it sees nothing. The role that runs this migration (the owner, used for
    # migrations, reconcile and erase) gets a policy of its own that admits every row.
    # security_invoker makes the seed views check RLS as the caller, not as the view's owner.
    """
    ALTER TABLE brain_memories ENABLE ROW LEVEL SECURITY;
    ALTER TABLE brain_memories FORCE ROW LEVEL SECURITY;
    ALTER TABLE brain_history ENABLE ROW LEVEL SECURITY;
    ALTER TABLE brain_history FORCE ROW LEVEL SECURITY;
    CREATE POLICY brain_memories_tenant ON brain_memories
        USING (scope = current_setting('brain.scope', true)
               AND entity_id = current_setting('brain.entity_id', true))
        WITH CHECK (scope = current_setting('brain.scope', true)
                    AND entity_id = current_setting('brain.entity_id', true));
    CREATE POLICY brain_history_tenant ON brain_history
        USING (scope = current_setting('brain.scope', true)
               AND entity_id = current_setting('brain.entity_id', true))
        WITH CHECK (scope = current_setting('brain.scope', true)
                    AND entity_id = current_setting('brain.entity_id', true));
    DO $$
    BEGIN
        EXECUTE format('CREATE POLICY brain_memories_owner ON brain_memories TO %I'
                       ' USING (true) WITH CHECK (true)', current_user);
        EXECUTE format('CREATE POLICY brain_history_owner ON brain_history TO %I'
                       ' USING (true) WITH CHECK (true)', current_user);
    END
    $$;
    ALTER VIEW user_brain SET (security_invoker = true);
    ALTER VIEW company_brain SET (security_invoker = true);
    """,
    # v5: full-text side of hybrid search (brain/retrieval.py). `search_tsv` is generated from the
    # content by brain_search_tsv(): the language is guessed per text by counting the stop words
    # each Snowball configuration removes ('simple' when no language wins clearly); stemmed
    # lexemes are kept next to the unstemmed words minus stop words, so a query whose language
    # is guessed differently still matches exact words; accents are folded after stemming with
    # translate(), because the `unaccent` extension is not available everywhere (the embedded
    # server lacks it). The functions are IMMUTABLE (they only use built-in configurations), as
    # a generated column requires. Adding the column rewrites the table once. The GIN index lets
    # Postgres AND a tenant's btree bitmap with the lexeme bitmap in large tenants.
    r"""
    CREATE FUNCTION brain_fold(t text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN translate(
        replace(replace(replace(replace(t, 'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'), 'ø', 'o'),
        'àáâãäåāăąçćĉčďđèéêëēĕėęěĝğġģĥìíîïĩīĭįıĵķĺļľłñńņňòóôõöōŏőŕŗřśŝşšţťŧùúûüũūŭůűųŵýÿŷźżž',
        'aaaaaaaaaccccddeeeeeeeeegggghiiiiiiiiijkllllnnnnoooooooorrrsssstttuuuuuuuuuuwyyyzzz'
    );

    CREATE FUNCTION brain_ts_config(t text) RETURNS regconfig
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    BEGIN ATOMIC
        WITH total AS (
            SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0) AS n
            FROM unnest(to_tsvector('simple'::regconfig, t))
        ), removed AS (
            SELECT c.cfg, total.n - coalesce(sum(coalesce(array_length(u.positions, 1), 1)), 0) AS stop
            FROM total,
                 (VALUES ('english'::regconfig), ('spanish'::regconfig), ('french'::regconfig),
                         ('portuguese'::regconfig), ('german'::regconfig), ('italian'::regconfig),
                         ('dutch'::regconfig)) AS c(cfg)
                 LEFT JOIN LATERAL unnest(to_tsvector(c.cfg, t)) AS u ON true
            GROUP BY c.cfg, total.n
        ), ranked AS (
            SELECT cfg, stop, row_number() OVER (ORDER BY stop DESC) AS r,
                   lead(stop) OVER (ORDER BY stop DESC) AS runner_up
            FROM removed
        )
        SELECT coalesce(
            (SELECT cfg FROM ranked WHERE r = 1 AND stop >= 1 AND stop > coalesce(runner_up, 0)),
            'simple'::regconfig);
    END;

    CREATE FUNCTION brain_search_tsv(t text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    BEGIN ATOMIC
        SELECT brain_fold((
            CASE WHEN cfg = 'simple'::regconfig THEN plain
            ELSE stemmed || ts_delete(plain, ARRAY(
                SELECT p.lexeme FROM unnest(plain) AS p
                WHERE NOT p.positions && ARRAY(SELECT unnest(s.positions) FROM unnest(stemmed) AS s)))
            END)::text)::tsvector
        FROM (SELECT brain_ts_config(t) AS cfg) AS c,
             LATERAL (SELECT to_tsvector('simple'::regconfig, t) AS plain,
                             to_tsvector(c.cfg, t) AS stemmed) AS v;
    END;

    ALTER TABLE brain_memories
        ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (brain_search_tsv(content)) STORED;
    CREATE INDEX brain_memories_search_idx ON brain_memories USING gin (search_tsv);
    """,
    # v6: signed tenants, and Mem0's collection under row-level security (db/rls.py, README
    # "Row-level security in production"). Before this, the application role could set
    # brain.scope/brain.entity_id to any tenant it liked and read every tenant's text in
    # brain_mem0. Now a tenant counts only with brain.tenant_sig = HMAC-SHA256(key, "brain-tenant-v1"
    # NUL scope NUL entity_id NUL index_key), keyed by a secret that only the owner can read
    # (brain_tenant_keys: no grant, forced RLS with an owner-only policy) and that the application
    # gets from configuration (BRAIN_TENANT_KEY). Postgres text never holds NUL, so the message is
    # unambiguous. brain_tenant_ok() checks the signature as the owner (SECURITY DEFINER, body
    # bound at creation, pinned search_path) and returns one boolean: the key never leaves it.
    # Policies call it as `(SELECT brain_tenant_ok())`, an InitPlan run once per statement.
    # brain.index_key is the entity's Mem0 user_id (brain/index.py entity_key), signed together
    # with the tenant, so Mem0's rows are filtered by the same signature. The key is 32 bytes from
    # gen_random_uuid() (pg_strong_random; pgcrypto is not available everywhere), 3 x 122 random
    # bits hashed. HMAC is written out (RFC 2104, SHA-256 block of 64 bytes): no pgcrypto needed.
    r"""
    CREATE FUNCTION brain_hmac_pad(k bytea, pad integer) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    BEGIN ATOMIC
        SELECT decode(string_agg(lpad(to_hex(get_byte(b.k64, i) # pad), 2, '0'), '' ORDER BY i), 'hex')
        FROM (SELECT CASE WHEN length(k) > 64 THEN sha256(k) ELSE k END AS k1) AS a,
             LATERAL (SELECT a.k1 || decode(repeat('00', 64 - length(a.k1)), 'hex') AS k64) AS b,
             generate_series(0, 63) AS i;
    END;

    CREATE FUNCTION brain_hmac_sha256(key bytea, msg bytea) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN sha256(brain_hmac_pad(key, 92) || sha256(brain_hmac_pad(key, 54) || msg));

    CREATE FUNCTION brain_tenant_message(scope text, entity_id text, index_key text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN convert_to('brain-tenant-v1', 'UTF8') || '\x00'::bytea || convert_to(scope, 'UTF8')
           || '\x00'::bytea || convert_to(entity_id, 'UTF8') || '\x00'::bytea
           || convert_to(index_key, 'UTF8');

    -- ipad/opad are HMAC's padded inner and outer keys, derived once here (the byte-wise XOR in
    -- brain_hmac_pad costs ~80 µs), so that checking a signature is two SHA-256 calls.
    CREATE TABLE brain_tenant_keys (
        id   integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        key  bytea NOT NULL CHECK (length(key) >= 32),
        ipad bytea GENERATED ALWAYS AS (brain_hmac_pad(key, 54)) STORED,
        opad bytea GENERATED ALWAYS AS (brain_hmac_pad(key, 92)) STORED
    );
    REVOKE ALL ON brain_tenant_keys FROM PUBLIC;
    ALTER TABLE brain_tenant_keys ENABLE ROW LEVEL SECURITY;
    ALTER TABLE brain_tenant_keys FORCE ROW LEVEL SECURITY;

    CREATE FUNCTION brain_tenant_ok() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
    SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT coalesce((
            SELECT encode(sha256(k.opad || sha256(k.ipad || brain_tenant_message(
                       current_setting('brain.scope', true), current_setting('brain.entity_id', true),
                       current_setting('brain.index_key', true)))), 'hex')
                   = current_setting('brain.tenant_sig', true)
            FROM brain_tenant_keys AS k WHERE k.id = 1), false);
    END;

    ALTER POLICY brain_memories_tenant ON brain_memories
        USING (scope = current_setting('brain.scope', true)
               AND entity_id = current_setting('brain.entity_id', true)
               AND (SELECT brain_tenant_ok()))
        WITH CHECK (scope = current_setting('brain.scope', true)
                    AND entity_id = current_setting('brain.entity_id', true)
                    AND (SELECT brain_tenant_ok()));
    ALTER POLICY brain_history_tenant ON brain_history
        USING (scope = current_setting('brain.scope', true)
               AND entity_id = current_setting('brain.entity_id', true)
               AND (SELECT brain_tenant_ok()))
        WITH CHECK (scope = current_setting('brain.scope', true)
                    AND entity_id = current_setting('brain.entity_id', true)
                    AND (SELECT brain_tenant_ok()));

    ALTER TABLE brain_mem0 ENABLE ROW LEVEL SECURITY;
    ALTER TABLE brain_mem0 FORCE ROW LEVEL SECURITY;
    CREATE POLICY brain_mem0_tenant ON brain_mem0
        USING (payload->>'user_id' = current_setting('brain.index_key', true)
               AND (SELECT brain_tenant_ok()))
        WITH CHECK (payload->>'user_id' = current_setting('brain.index_key', true)
                    AND (SELECT brain_tenant_ok()));
    DO $$
    BEGIN
        EXECUTE format('CREATE POLICY brain_mem0_owner ON brain_mem0 TO %I'
                       ' USING (true) WITH CHECK (true)', current_user);
        EXECUTE format('CREATE POLICY brain_tenant_keys_owner ON brain_tenant_keys TO %I'
                       ' USING (true) WITH CHECK (true)', current_user);
    END
    $$;
    -- After the owner policy: with FORCE ROW LEVEL SECURITY a non-superuser owner could not
    -- insert the key before it (a superuser bypasses RLS, which is why only the external lane's
    -- non-superuser owner showed it).
    INSERT INTO brain_tenant_keys (key)
    VALUES (sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
                   || uuid_send(gen_random_uuid())));
    """,
    V7_VECTOR_INDEXES,
    V8_TENANT_STATS,
    V9_SIGNALS,
    V10_RETENTION,
]


#: The brain's schema: brain tables, Mem0's collection, RLS and full-text search. The only user
#: of pgvector; the checkpointer has its own set (`langgraph_brain.checkpointers.migrations`).
BRAIN_MIGRATIONS = MigrationSet(
    name="brain",
    table="brain_migrations",
    lock_key=MIGRATION_LOCK_KEY,
    migrations=MIGRATIONS,
    # v3 made chat_messages before the checkpointer had its own list, which now creates the same
    # table; on a database where the checkpointer came first, v3 is recorded, not re-run.
    satisfied_by={3: "chat_messages"},
)


async def amigrate(conn: AsyncConnection[Any]) -> list[int]:
    """Apply pending brain migrations under an advisory lock. Returns the versions applied.

    `conn` must be in autocommit mode. Pending entries run in one transaction, so a role that
    may not run them leaves nothing behind (`DatabaseNotMigratedError`).
    """
    return await BRAIN_MIGRATIONS.aapply(conn)


def migrate(conn: Connection[Any]) -> list[int]:
    """Sync twin of `amigrate`."""
    return BRAIN_MIGRATIONS.apply(conn)
