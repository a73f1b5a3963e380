"""Brain migrations v9 and v10: what ranking by importance and recency, and retention, need.

Entries of the brain's append-only list (`migrations.MIGRATIONS`), kept here by subject; never
edit one that has shipped.
"""

from __future__ import annotations

#: v9: signals on every memory (README "Signals").
#:
#: - `importance` (0..1) is generated from the row itself by `brain_importance(category, metadata)`,
#:   so every write path (save, bulk, import, extraction, store) gets it without a second
#:   statement, old rows get it when the column is added, and ranking and retention read the
#:   same value. An explicit `metadata.importance` wins, a pin counts as 1, else the category's
#:   base is scaled by how the memory came to be (`metadata.source`, `metadata.confidence`).
#: - Access is counted in its own narrow table, not on `brain_memories`: a search would otherwise
#:   rewrite wide rows (content, tsvector), fire the tenant-statistics trigger and bloat the
#:   table that every search reads. Deleting a memory deletes its counters (the cascade runs
#:   as the owner, past row-level security, as referential actions do). For the same reason the
#:   foreign key alone would let a tenant file counters under another tenant's memory id (ids
#:   are guessable): the write check also requires the memory to be one of the writer's own, as
#:   its row-level security sees them. Counters are written in batches by `brain.access`.
#: - `brain_history.created_at` gets an index for the as-of reads and retention's purge.
V9_SIGNALS = r"""
    CREATE FUNCTION brain_importance(category text, metadata jsonb) RETURNS real
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE
        WHEN jsonb_typeof(metadata -> 'importance') = 'number'
            THEN least(greatest((metadata ->> 'importance')::real, 0), 1)
        WHEN metadata @> '{"pinned": true}' THEN 1
        ELSE (CASE
                  WHEN category IN ('profile', 'company_profile', 'company_policy', 'company_tax') THEN 0.7
                  WHEN category IN ('preference', 'business', 'goal') THEN 0.6
                  WHEN category = 'conversation_summary' THEN 0.3
                  ELSE 0.5
              END)
             * (CASE metadata ->> 'source'
                    WHEN 'extracted' THEN 0.8 + 0.2 * CASE
                        WHEN jsonb_typeof(metadata -> 'confidence') = 'number'
                            THEN least(greatest((metadata ->> 'confidence')::real, 0), 1)
                        ELSE 1 END
                    WHEN 'summary' THEN 0.8
                    WHEN 'system' THEN 0.8
                    ELSE 1
                END)
    END::real;

    ALTER TABLE brain_memories
        ADD COLUMN importance real GENERATED ALWAYS AS (brain_importance(category, metadata)) STORED;

    CREATE TABLE brain_memory_access (
        brain_id         bigint PRIMARY KEY REFERENCES brain_memories (id) ON DELETE CASCADE,
        scope            text NOT NULL,
        entity_id        text NOT NULL,
        access_count     bigint NOT NULL DEFAULT 0 CHECK (access_count >= 0),
        last_accessed_at timestamptz NOT NULL
    );
    CREATE INDEX brain_memory_access_tenant_idx ON brain_memory_access (scope, entity_id);
    ALTER TABLE brain_memory_access ENABLE ROW LEVEL SECURITY;
    ALTER TABLE brain_memory_access FORCE ROW LEVEL SECURITY;
    CREATE POLICY brain_memory_access_tenant ON brain_memory_access
        USING (scope = current_setting('brain.scope', true)
               AND entity_id = current_setting('brain.entity_id', true)
               AND (SELECT brain_tenant_ok()))
        WITH CHECK (scope = current_setting('brain.scope', true)
                    AND entity_id = current_setting('brain.entity_id', true)
                    AND (SELECT brain_tenant_ok())
                    AND EXISTS (SELECT 1 FROM brain_memories m
                                WHERE m.id = brain_memory_access.brain_id
                                  AND m.scope = brain_memory_access.scope
                                  AND m.entity_id = brain_memory_access.entity_id));
    DO $$
    BEGIN
        EXECUTE format('CREATE POLICY brain_memory_access_owner ON brain_memory_access TO %I'
                       ' USING (true) WITH CHECK (true)', current_user);
    END
    $$;

    CREATE INDEX brain_history_created_idx ON brain_history (created_at);
    """

#: v10: retention (README "Retention"). An archived memory leaves `brain_memories` (and so Mem0
#: and search: I1 is about that table) for `brain_archive`, from which `brain memories restore`
#: saves it back and the purge deletes it after a further period. One archived copy per key: a
#: slug archived again (re-created since, then archived) replaces its older copy, whose text
#: `brain_history` still holds. The history records every step: `archive` and `purge` carry no
#: new content (the slug is absent from then on, as after a forget, for as-of reads), `restore`
#: carries the restored text.
V10_RETENTION = r"""
    CREATE TABLE brain_archive (
        id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        brain_id         bigint NOT NULL,
        scope            text NOT NULL CHECK (scope IN ('user', 'company')),
        entity_id        text NOT NULL,
        slug             text NOT NULL,
        content          text NOT NULL,
        category         text NOT NULL,
        metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
        version          integer NOT NULL,
        importance       real NOT NULL,
        access_count     bigint NOT NULL DEFAULT 0,
        last_accessed_at timestamptz,
        created_at       timestamptz NOT NULL,
        updated_at       timestamptz NOT NULL,
        archived_at      timestamptz NOT NULL DEFAULT now(),
        policy           text NOT NULL,
        reason           text,
        UNIQUE (scope, entity_id, slug)
    );
    CREATE INDEX brain_archive_archived_idx ON brain_archive (archived_at);
    ALTER TABLE brain_archive ENABLE ROW LEVEL SECURITY;
    ALTER TABLE brain_archive FORCE ROW LEVEL SECURITY;
    CREATE POLICY brain_archive_tenant ON brain_archive
        USING (scope = current_setting('brain.scope', true)
               AND entity_id = current_setting('brain.entity_id', true)
               AND (SELECT brain_tenant_ok()))
        WITH CHECK (scope = current_setting('brain.scope', true)
                    AND entity_id = current_setting('brain.entity_id', true)
                    AND (SELECT brain_tenant_ok()));
    DO $$
    BEGIN
        EXECUTE format('CREATE POLICY brain_archive_owner ON brain_archive TO %I'
                       ' USING (true) WITH CHECK (true)', current_user);
    END
    $$;

    ALTER TABLE brain_history DROP CONSTRAINT brain_history_action_check;
    ALTER TABLE brain_history ADD CONSTRAINT brain_history_action_check
        CHECK (action IN ('create', 'update', 'forget', 'archive', 'restore', 'purge'));
    """
