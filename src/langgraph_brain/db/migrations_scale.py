"""Brain migrations v7 and v8: what keeps search cost flat as a tenant grows.

Entries of the brain's append-only list (`migrations.MIGRATIONS`), kept here by subject; never
edit one that has shipped.
"""

from __future__ import annotations

#: v7: the registry of approximate (HNSW) vector indexes, one partial index per large tenant,
#: written by `brain vector-index` (the owner) and read by search to pick the index.
#: No row-level security: it names large tenants' Mem0 keys, which the partial indexes'
#: predicates already show in the catalog to any role; the application role may only read it.
V7_VECTOR_INDEXES = """
    CREATE TABLE brain_vector_indexes (
        index_key  text PRIMARY KEY,
        index_name text NOT NULL UNIQUE,
        dims       integer NOT NULL,
        rows       bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    """

#: v8: per-tenant statistics for BM25 (documents and total lexemes), kept by statement-level
#: triggers so that a keyword search reads one row instead of every tsvector of its tenant.
#: Rows in every sync state count (pending and deleting rows are a handful at any time). The
#: trigger functions run as the owner; the application role reads its own tenant's row only.
V8_TENANT_STATS = """
    CREATE TABLE brain_tenant_stats (
        scope     text NOT NULL,
        entity_id text NOT NULL,
        docs      bigint NOT NULL,
        lexemes   bigint NOT NULL,
        PRIMARY KEY (scope, entity_id)
    );
    INSERT INTO brain_tenant_stats
    SELECT scope, entity_id, count(*), coalesce(sum(length(search_tsv)), 0)
    FROM brain_memories GROUP BY scope, entity_id;

    CREATE FUNCTION brain_tenant_stats_apply() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO brain_tenant_stats AS s (scope, entity_id, docs, lexemes)
            SELECT scope, entity_id, count(*), coalesce(sum(length(search_tsv)), 0)
            FROM new_rows GROUP BY scope, entity_id
            ON CONFLICT (scope, entity_id)
            DO UPDATE SET docs = s.docs + EXCLUDED.docs, lexemes = s.lexemes + EXCLUDED.lexemes;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE brain_tenant_stats AS s SET docs = s.docs - d.docs, lexemes = s.lexemes - d.lexemes
            FROM (SELECT scope, entity_id, count(*) AS docs, coalesce(sum(length(search_tsv)), 0) AS lexemes
                  FROM old_rows GROUP BY scope, entity_id) AS d
            WHERE s.scope = d.scope AND s.entity_id = d.entity_id;
        ELSE
            -- Only a changed text changes the statistics: marking a row synced writes nothing here.
            UPDATE brain_tenant_stats AS s SET lexemes = s.lexemes + d.delta
            FROM (SELECT n.scope, n.entity_id, sum(length(n.search_tsv) - length(o.search_tsv)) AS delta
                  FROM new_rows AS n JOIN old_rows AS o USING (id)
                  WHERE n.search_tsv IS DISTINCT FROM o.search_tsv
                  GROUP BY n.scope, n.entity_id) AS d
            WHERE s.scope = d.scope AND s.entity_id = d.entity_id AND d.delta <> 0;
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER brain_tenant_stats_insert AFTER INSERT ON brain_memories
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION brain_tenant_stats_apply();
    CREATE TRIGGER brain_tenant_stats_delete AFTER DELETE ON brain_memories
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION brain_tenant_stats_apply();
    CREATE TRIGGER brain_tenant_stats_update AFTER UPDATE ON brain_memories
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION brain_tenant_stats_apply();

    ALTER TABLE brain_tenant_stats ENABLE ROW LEVEL SECURITY;
    ALTER TABLE brain_tenant_stats FORCE ROW LEVEL SECURITY;
    CREATE POLICY brain_tenant_stats_tenant ON brain_tenant_stats FOR SELECT
        USING (scope = current_setting('brain.scope', true)
               AND entity_id = current_setting('brain.entity_id', true)
               AND (SELECT brain_tenant_ok()));
    DO $$
    BEGIN
        EXECUTE format('CREATE POLICY brain_tenant_stats_owner ON brain_tenant_stats TO %I'
                       ' USING (true) WITH CHECK (true)', current_user);
    END
    $$;
    """
