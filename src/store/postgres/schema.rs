//! The PostgreSQL store's schema: the numbered migration steps, the check on the schema's
//! name, and the migration itself, run under a session advisory lock so that replicas
//! starting at once migrate once, and a schema from a newer wirefeed is refused.

use std::time::Duration;

use tokio_postgres::NoTls;

use super::LOCK_SPACE;
use crate::store::StoreError;

/// The schema, one step per version. Never edit a step that has shipped: add a new one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: articles, their categories, the change sequence and tombstones (SQLite's steps 1-2).
    r#"
    CREATE TABLE articles (
        id           TEXT COLLATE "C" PRIMARY KEY,
        body         TEXT NOT NULL,
        published_ns BIGINT NOT NULL,
        seq          BIGINT NOT NULL,
        killed_seq   BIGINT
    );
    CREATE INDEX articles_live_by_published ON articles (published_ns DESC, id DESC)
        WHERE killed_seq IS NULL;

    CREATE TABLE article_categories (
        category     TEXT COLLATE "C" NOT NULL,
        published_ns BIGINT NOT NULL,
        article_id   TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (category, published_ns, article_id)
    );
    CREATE INDEX article_categories_by_article ON article_categories (article_id);

    CREATE TABLE category_counts (
        category TEXT COLLATE "C" PRIMARY KEY,
        articles BIGINT NOT NULL
    );

    CREATE TABLE changes (
        seq        BIGINT PRIMARY KEY,
        article_id TEXT COLLATE "C" NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('create', 'update', 'kill')),
        at_ns      BIGINT NOT NULL
    );
    CREATE TABLE change_categories (
        category TEXT COLLATE "C" NOT NULL,
        seq      BIGINT NOT NULL,
        PRIMARY KEY (category, seq)
    );
    CREATE INDEX change_categories_by_seq ON change_categories (seq);

    CREATE TABLE tombstones (
        category   TEXT COLLATE "C" NOT NULL,
        killed_ns  BIGINT NOT NULL,
        article_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (category, killed_ns, article_id)
    );
    CREATE INDEX tombstones_by_article ON tombstones (article_id);
    "#,
    // 2: the version (seq) of each filed story beside its place in the category, covered by
    // the index, so the newest N of a category is an index-only scan and stories the replica
    // already holds in memory at that version need not be fetched again.
    r#"
    ALTER TABLE article_categories ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
    UPDATE article_categories c SET seq = a.seq FROM articles a WHERE a.id = c.article_id;
    ALTER TABLE article_categories ALTER COLUMN seq DROP DEFAULT;
    ALTER TABLE article_categories DROP CONSTRAINT article_categories_pkey;
    CREATE UNIQUE INDEX article_categories_newest
        ON article_categories (category, published_ns, article_id) INCLUDE (seq);
    CREATE INDEX articles_live_by_published_seq ON articles (published_ns DESC, id DESC)
        INCLUDE (seq) WHERE killed_seq IS NULL;
    DROP INDEX articles_live_by_published;
    "#,
    // 3: WebSub subscriptions, which replica pushes each change, readers per feed per day (SQLite's step 3).
    r#"
    CREATE TABLE websub_subscriptions (
        topic         TEXT COLLATE "C" NOT NULL,
        callback      TEXT COLLATE "C" NOT NULL,
        callback_host TEXT COLLATE "C" NOT NULL,
        secret        TEXT,
        lease_seconds BIGINT NOT NULL,
        expires_ns    BIGINT NOT NULL,
        PRIMARY KEY (topic, callback)
    );
    CREATE INDEX websub_subscriptions_by_host ON websub_subscriptions (callback_host);
    CREATE INDEX websub_subscriptions_by_expiry ON websub_subscriptions (expires_ns);
    CREATE TABLE websub_claims (
        seq        BIGINT PRIMARY KEY,
        claimed_ns BIGINT NOT NULL
    );

    -- Readers per feed per UTC day (YYYY-MM-DD).
    CREATE TABLE audience (
        day     TEXT COLLATE "C" NOT NULL,
        feed    TEXT COLLATE "C" NOT NULL,
        clients TEXT NOT NULL,
        agents  TEXT NOT NULL,
        PRIMARY KEY (day, feed)
    );

    -- Feed polls per UTC hour (Unix seconds at its start).
    CREATE TABLE traffic (
        hour         BIGINT NOT NULL,
        feed         TEXT COLLATE "C" NOT NULL,
        polls        BIGINT NOT NULL,
        not_modified BIGINT NOT NULL,
        bytes_sent   BIGINT NOT NULL,
        bytes_saved  BIGINT NOT NULL,
        PRIMARY KEY (hour, feed)
    );
    "#,
    // 4: urgency of each story and each change, for the flash feed (SQLite's step 4).
    r#"
    ALTER TABLE articles ADD COLUMN urgency SMALLINT;
    UPDATE articles SET urgency = (body::jsonb ->> 'urgency')::smallint
        WHERE body::jsonb ? 'urgency';
    CREATE INDEX articles_live_by_urgency ON articles (urgency, published_ns DESC, id DESC)
        WHERE killed_seq IS NULL AND urgency IS NOT NULL;
    ALTER TABLE changes ADD COLUMN urgency SMALLINT;
    CREATE INDEX changes_by_urgency ON changes (urgency, seq);
    "#,
    // 5: stories held under embargo, and the change kind that records holding one (SQLite's
    // step 5).
    r#"
    CREATE TABLE held (
        id           TEXT COLLATE "C" PRIMARY KEY,
        body         TEXT NOT NULL,
        lift_ns      BIGINT NOT NULL,
        published_ns BIGINT NOT NULL
    );
    CREATE INDEX held_by_lift ON held (lift_ns);
    ALTER TABLE changes DROP CONSTRAINT changes_kind_check;
    ALTER TABLE changes ADD CONSTRAINT changes_kind_check
        CHECK (kind IN ('create', 'update', 'kill', 'hold'));
    "#,
    // 6: partners' requests per UTC hour (SQLite's step 6).
    r#"
    CREATE TABLE partner_usage (
        day          TEXT COLLATE "C" NOT NULL,
        hour         BIGINT NOT NULL,
        partner      TEXT COLLATE "C" NOT NULL,
        requests     BIGINT NOT NULL,
        not_modified BIGINT NOT NULL,
        bytes        BIGINT NOT NULL,
        PRIMARY KEY (hour, partner)
    );
    CREATE INDEX partner_usage_by_day ON partner_usage (day, partner);
    "#,
    // 7: when each live story is to be withdrawn (ninjs `expires`), filled from the stored JSON
    // (SQLite's step 7).
    r#"
    ALTER TABLE articles ADD COLUMN expires_ns BIGINT;
    UPDATE articles SET expires_ns =
        (EXTRACT(EPOCH FROM (body::jsonb ->> 'expires')::timestamptz) * 1000000000)::bigint
        WHERE body::jsonb ? 'expires';
    CREATE INDEX articles_live_by_expiry ON articles (expires_ns)
        WHERE killed_seq IS NULL AND expires_ns IS NOT NULL;
    "#,
    // 8: a held story the desk dropped before its lift stays, marked with the change that
    // dropped it, so that its id stays killed (a kill is final) without any reader seeing it (SQLite's step 8).
    r#"
    ALTER TABLE held ADD COLUMN killed_seq BIGINT;
    DROP INDEX held_by_lift;
    CREATE INDEX held_by_lift ON held (lift_ns) WHERE killed_seq IS NULL;
    "#,
    // 9: killed stories by publication time, and categories emptied by kills back with a
    // count of 0 (SQLite's step 9).
    r#"
    CREATE INDEX articles_killed_by_published ON articles (published_ns DESC, id DESC)
        WHERE killed_seq IS NOT NULL;
    INSERT INTO category_counts (category, articles)
        SELECT DISTINCT category, 0 FROM tombstones
        ON CONFLICT (category) DO NOTHING;
    "#,
    // 10: each story's changes, so a kill finds every category a public version was filed in;
    // and stories killed before kills reached them there (SQLite's step 10).
    r#"
    CREATE INDEX changes_by_article ON changes (article_id, seq);
    INSERT INTO tombstones (category, killed_ns, article_id)
        SELECT DISTINCT cc.category, t.killed_ns, t.article_id
        FROM (SELECT article_id, MAX(killed_ns) AS killed_ns FROM tombstones GROUP BY article_id) t
        JOIN changes c ON c.article_id = t.article_id AND c.kind IN ('create', 'update')
        JOIN change_categories cc ON cc.seq = c.seq
        ON CONFLICT DO NOTHING;
    INSERT INTO category_counts (category, articles)
        SELECT DISTINCT category, 0 FROM tombstones
        ON CONFLICT (category) DO NOTHING;
    UPDATE articles SET urgency = (
            SELECT MIN(c.urgency) FROM changes c
            WHERE c.article_id = articles.id AND c.kind IN ('create', 'update'))
        WHERE killed_seq IS NOT NULL AND EXISTS (
            SELECT 1 FROM changes c WHERE c.article_id = articles.id
              AND c.kind IN ('create', 'update') AND c.urgency < COALESCE(articles.urgency, 10));
    "#,
    // 11: a change stamped more than half a second before its transaction commits is stamped
    // again then, by the server's clock: a commit that reaches the server late (a stalled
    // network, a COMMIT sent just before the writer gave up, a long import) must not become
    // visible long after its time, which Last-Modified relies on (`cache::rendered`). A
    // deferred trigger runs at COMMIT, in the transaction, change by change in order; the
    // write lock is still held, and no change is stamped before the one ahead of it.
    r#"
    CREATE FUNCTION stamp_change_at_commit() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
    DECLARE
        now_ns bigint := (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint;
        stamped bigint;
        ahead bigint;
    BEGIN
        SELECT at_ns INTO stamped FROM changes WHERE seq = NEW.seq;
        SELECT at_ns INTO ahead FROM changes WHERE seq = NEW.seq - 1;
        IF stamped < now_ns - 500000000 THEN
            stamped := now_ns;
        END IF;
        UPDATE changes SET at_ns = GREATEST(stamped, ahead) WHERE seq = NEW.seq
            AND at_ns < GREATEST(stamped, ahead);
        RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER changes_stamped_at_commit AFTER INSERT ON changes
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stamp_change_at_commit();
    "#,
];

/// Schema names go into SQL unquoted, so only plain identifiers are accepted.
pub(super) fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "store_schema {schema:?} must be a lower-case identifier such as \"wirefeed\" (letters, digits, '_')"
        )))
    }
}

/// Applies every migration step the schema has not seen, under a session advisory lock held
/// on a connection of its own (so a failure releases the lock with the connection).
pub(super) async fn migrate(
    config: &tokio_postgres::Config,
    schema: &str,
    deadline: Duration,
) -> Result<(), StoreError> {
    // Connecting is bounded (a stalled server must not hang start-up); the steps are not, as
    // a step may rewrite a large table.
    let (mut client, connection) = tokio::time::timeout(deadline, config.connect(NoTls))
        .await
        .map_err(|_| StoreError::Timeout(deadline))??;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the migration connection ended with an error");
        }
    });
    // A step may rewrite a large table: no server-side statement or lock deadline here.
    let setup = client.batch_execute(
        "SET client_min_messages TO warning; SET statement_timeout = 0; SET lock_timeout = 0",
    );
    tokio::time::timeout(deadline, setup)
        .await
        .map_err(|_| StoreError::Timeout(deadline))??;
    // Another replica may be migrating: wait for it, saying so now and then.
    {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&LOCK_SPACE, &schema];
        let lock = client.execute("SELECT pg_advisory_lock($1, hashtext($2))", &params);
        let mut lock = std::pin::pin!(lock);
        loop {
            match tokio::time::timeout(deadline.max(Duration::from_secs(5)), &mut lock).await {
                Ok(locked) => {
                    locked?;
                    break;
                }
                Err(_) => {
                    tracing::info!(schema, "waiting for another replica to finish migrating")
                }
            }
        }
    }
    let create = format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.wirefeed_schema (version INTEGER NOT NULL);
         INSERT INTO {schema}.wirefeed_schema (version)
             SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM {schema}.wirefeed_schema);"
    );
    tokio::time::timeout(deadline, client.batch_execute(&create))
        .await
        .map_err(|_| StoreError::Timeout(deadline))??;
    let found: i32 = tokio::time::timeout(
        deadline,
        client.query_one("SELECT version FROM wirefeed_schema", &[]),
    )
    .await
    .map_err(|_| StoreError::Timeout(deadline))??
    .get(0);
    let known = MIGRATIONS.len() as i32;
    if found > known {
        return Err(StoreError::SchemaTooNew {
            found: i64::from(found),
            known: i64::from(known),
        });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "UPDATE wirefeed_schema SET version = $1",
            &[&(step as i32 + 1)],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version = step + 1, schema, "migrated the PostgreSQL store");
    }
    client
        .execute(
            "SELECT pg_advisory_unlock($1, hashtext($2))",
            &[&LOCK_SPACE, &schema],
        )
        .await?;
    drop(client);
    let _ = driver.await;
    Ok(())
}
