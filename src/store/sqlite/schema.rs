//! The SQLite store's schema: the numbered migration steps and the code that applies them,
//! tracked in `PRAGMA user_version`, so that a file written by any earlier wirefeed opens and a
//! file from a newer one is refused rather than misread.

use rusqlite::{Connection, TransactionBehavior};

use crate::store::StoreError;

/// The schema, one step per version. Never edit a step that has shipped: add a new one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: articles, their categories, and the change sequence.
    r#"
    CREATE TABLE articles (
        id           TEXT PRIMARY KEY,
        body         TEXT NOT NULL,      -- the article JSON, exactly as accepted
        published_ns INTEGER NOT NULL,   -- UTC nanoseconds since 1970, for ordering
        seq          INTEGER NOT NULL,   -- change that wrote this version
        killed_seq   INTEGER             -- set while the story is killed
    );
    CREATE INDEX articles_live_by_published ON articles (published_ns DESC, id DESC)
        WHERE killed_seq IS NULL;

    -- Live stories only: newest N of category C is a walk down this primary key.
    CREATE TABLE article_categories (
        category     TEXT NOT NULL,
        published_ns INTEGER NOT NULL,
        article_id   TEXT NOT NULL,
        PRIMARY KEY (category, published_ns, article_id)
    ) WITHOUT ROWID;
    CREATE INDEX article_categories_by_article ON article_categories (article_id);

    CREATE TABLE category_counts (
        category TEXT PRIMARY KEY,
        articles INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE changes (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        article_id TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('create', 'update', 'kill')),
        at_ns      INTEGER NOT NULL
    );
    CREATE TABLE change_categories (
        category TEXT NOT NULL,
        seq      INTEGER NOT NULL,
        PRIMARY KEY (category, seq)
    ) WITHOUT ROWID;
    "#,
    // 2: tombstones of killed stories per category, newest first, for RFC 6721 deleted-entry.
    r#"
    CREATE TABLE tombstones (
        category   TEXT NOT NULL,
        killed_ns  INTEGER NOT NULL,
        article_id TEXT NOT NULL,
        PRIMARY KEY (category, killed_ns, article_id)
    ) WITHOUT ROWID;
    CREATE INDEX tombstones_by_article ON tombstones (article_id);
    "#,
    // 3: WebSub subscriptions, which replica pushes each change, readers per feed per day.
    r#"
    CREATE TABLE websub_subscriptions (
        topic         TEXT NOT NULL,
        callback      TEXT NOT NULL,
        callback_host TEXT NOT NULL,
        secret        TEXT,
        lease_seconds INTEGER NOT NULL,
        expires_ns    INTEGER NOT NULL,
        PRIMARY KEY (topic, callback)
    ) WITHOUT ROWID;
    CREATE INDEX websub_subscriptions_by_host ON websub_subscriptions (callback_host);
    CREATE INDEX websub_subscriptions_by_expiry ON websub_subscriptions (expires_ns);
    CREATE TABLE websub_claims (
        seq        INTEGER PRIMARY KEY,
        claimed_ns INTEGER NOT NULL
    );

    -- Readers per feed per UTC day (YYYY-MM-DD).
    CREATE TABLE audience (
        day     TEXT NOT NULL,
        feed    TEXT NOT NULL,
        clients TEXT NOT NULL,
        agents  TEXT NOT NULL,
        PRIMARY KEY (day, feed)
    );

    -- Feed polls per UTC hour (Unix seconds at its start).
    CREATE TABLE traffic (
        hour         INTEGER NOT NULL,
        feed         TEXT NOT NULL,
        polls        INTEGER NOT NULL,
        not_modified INTEGER NOT NULL,
        bytes_sent   INTEGER NOT NULL,
        bytes_saved  INTEGER NOT NULL,
        PRIMARY KEY (hour, feed)
    ) WITHOUT ROWID;
    "#,
    // 4: urgency (1 most urgent .. 9) of each story, for the flash feed, filled from the stored
    // JSON; and of each change (the most urgent version it touched, 10 for none; NULL for a
    // change recorded before urgency was kept, which every flash feed counts as touching it).
    r#"
    ALTER TABLE articles ADD COLUMN urgency INTEGER;
    UPDATE articles SET urgency = json_extract(body, '$.urgency');
    CREATE INDEX articles_live_by_urgency ON articles (urgency, published_ns DESC, id DESC)
        WHERE killed_seq IS NULL AND urgency IS NOT NULL;
    ALTER TABLE changes ADD COLUMN urgency INTEGER;
    CREATE INDEX changes_by_urgency ON changes (urgency, seq);
    "#,
    // 5: stories held under embargo, and the change kind that records holding one. SQLite
    // cannot alter a CHECK, so the change table is rebuilt with its numbering kept.
    r#"
    CREATE TABLE held (
        id           TEXT PRIMARY KEY,
        body         TEXT NOT NULL,      -- the article JSON, embargo included
        lift_ns      INTEGER NOT NULL,   -- when the embargo lifts, UTC nanoseconds
        published_ns INTEGER NOT NULL
    );
    CREATE INDEX held_by_lift ON held (lift_ns);

    CREATE TABLE changes_next (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        article_id TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('create', 'update', 'kill', 'hold')),
        at_ns      INTEGER NOT NULL,
        urgency    INTEGER
    );
    INSERT INTO changes_next (seq, article_id, kind, at_ns, urgency)
        SELECT seq, article_id, kind, at_ns, urgency FROM changes;
    DELETE FROM sqlite_sequence WHERE name = 'changes_next';
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'changes_next', seq FROM sqlite_sequence WHERE name = 'changes';
    DROP TABLE changes;
    ALTER TABLE changes_next RENAME TO changes;
    CREATE INDEX changes_by_urgency ON changes (urgency, seq);
    "#,
    // 6: partners' requests per UTC hour (Unix seconds at its start), with the UTC day
    // (YYYY-MM-DD) for the daily quota and the operator's page.
    r#"
    CREATE TABLE partner_usage (
        day          TEXT NOT NULL,
        hour         INTEGER NOT NULL,
        partner      TEXT NOT NULL,
        requests     INTEGER NOT NULL,
        not_modified INTEGER NOT NULL,
        bytes        INTEGER NOT NULL,
        PRIMARY KEY (hour, partner)
    ) WITHOUT ROWID;
    CREATE INDEX partner_usage_by_day ON partner_usage (day, partner);
    "#,
    // 7: when each live story is to be withdrawn (ninjs `expires`), UTC nanoseconds, filled
    // from the stored JSON, so the stories due are one walk down an index.
    r#"
    ALTER TABLE articles ADD COLUMN expires_ns INTEGER;
    UPDATE articles SET expires_ns =
        CAST((julianday(json_extract(body, '$.expires')) - 2440587.5) * 86400000000000 AS INTEGER)
        WHERE json_extract(body, '$.expires') IS NOT NULL;
    CREATE INDEX articles_live_by_expiry ON articles (expires_ns)
        WHERE killed_seq IS NULL AND expires_ns IS NOT NULL;
    "#,
    // 8: a held story the desk dropped before its lift stays, marked with the change that
    // dropped it, so that its id stays killed (a kill is final) without any reader seeing it.
    r#"
    ALTER TABLE held ADD COLUMN killed_seq INTEGER;
    DROP INDEX held_by_lift;
    CREATE INDEX held_by_lift ON held (lift_ns) WHERE killed_seq IS NULL;
    "#,
    // 9: killed stories by publication time, for the archive days that hold only withdrawal
    // notices (`killed_published`); and the categories whose stories were all killed or moved
    // before categories kept their row, back with a count of 0, so their feeds answer again.
    r#"
    CREATE INDEX articles_killed_by_published ON articles (published_ns DESC, id DESC)
        WHERE killed_seq IS NOT NULL;
    INSERT OR IGNORE INTO category_counts (category, articles)
        SELECT DISTINCT category, 0 FROM tombstones;
    "#,
    // 10: each story's changes and each change's categories, so a kill finds every category a
    // public version was filed in (and a change's categories are found without a scan);
    // and stories killed before kills reached them there: their withdrawal notices in every
    // such category, and their urgency the most urgent any public version had (the flash feed).
    r#"
    CREATE INDEX changes_by_article ON changes (article_id, seq);
    CREATE INDEX change_categories_by_seq ON change_categories (seq);
    INSERT OR IGNORE INTO tombstones (category, killed_ns, article_id)
        SELECT DISTINCT cc.category, t.killed_ns, t.article_id
        FROM (SELECT article_id, MAX(killed_ns) AS killed_ns FROM tombstones GROUP BY article_id) t
        JOIN changes c ON c.article_id = t.article_id AND c.kind IN ('create', 'update')
        JOIN change_categories cc ON cc.seq = c.seq;
    INSERT OR IGNORE INTO category_counts (category, articles)
        SELECT DISTINCT category, 0 FROM tombstones;
    UPDATE articles SET urgency = (
            SELECT MIN(c.urgency) FROM changes c
            WHERE c.article_id = articles.id AND c.kind IN ('create', 'update'))
        WHERE killed_seq IS NOT NULL AND EXISTS (
            SELECT 1 FROM changes c WHERE c.article_id = articles.id
              AND c.kind IN ('create', 'update') AND c.urgency < COALESCE(articles.urgency, 10));
    "#,
];

/// Applies every migration step the file has not seen yet, each in its own transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", step as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = step + 1, "migrated the SQLite store");
    }
    Ok(())
}
