//! Importing article files into the store: `wirefeed import PATH`.
//!
//! A reader thread walks the files and streams records over a bounded channel; valid stories
//! are written in batches, each batch in one transaction, so an interrupted import leaves whole
//! batches and re-running it is harmless (stories are keyed by id, and an identical story is
//! left untouched). Invalid records are counted and reported with file, line and reason; they
//! never stop the others.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::files::{self, FilesError, Location, Record};
use crate::store::{ImportCounts, Store, StoreError};

/// Stories written per transaction.
pub const BATCH: usize = 500;

#[derive(Debug, Default)]
pub struct Report {
    pub counts: ImportCounts,
    pub rejected: Vec<(Location, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports every article file under `path`.
pub async fn import_path(store: &dyn Store, path: &Path) -> Result<Report, ImportError> {
    let paths = files::article_files(path)?;
    let (tx, mut rx) = mpsc::channel::<(Location, Record)>(BATCH * 2);
    let reader = tokio::task::spawn_blocking(move || read_all(&paths, &tx));

    let mut report = Report::default();
    let mut batch = Vec::with_capacity(BATCH);
    while let Some((location, record)) = rx.recv().await {
        match record {
            Ok(article) => batch.push(article),
            Err(reason) => report.rejected.push((location, reason)),
        }
        if batch.len() == BATCH {
            add(
                &mut report.counts,
                store.put_many(std::mem::take(&mut batch)).await?,
            );
        }
    }
    if !batch.is_empty() {
        add(&mut report.counts, store.put_many(batch).await?);
    }
    reader
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))??;
    Ok(report)
}

fn read_all(paths: &[PathBuf], tx: &mpsc::Sender<(Location, Record)>) -> Result<(), FilesError> {
    for path in paths {
        let mut open = true;
        files::read_file(path, |location, record| {
            // A closed channel means the importer stopped on a store error; it reports that.
            open = open && tx.blocking_send((location, record)).is_ok();
        })?;
        if !open {
            break;
        }
    }
    Ok(())
}

fn add(total: &mut ImportCounts, batch: ImportCounts) {
    total.created += batch.created;
    total.updated += batch.updated;
    total.unchanged += batch.unchanged;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Selection;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn importing_twice_changes_nothing_the_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("wire.sqlite3")).unwrap();
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample");
        let first = import_path(&store, &sample).await.unwrap();
        assert!(first.counts.created >= 30, "{first:?}");
        assert!(first.rejected.is_empty(), "{:?}", first.rejected);
        let second = import_path(&store, &sample).await.unwrap();
        assert_eq!(second.counts.created + second.counts.updated, 0);
        assert_eq!(second.counts.unchanged, first.counts.created);
        let all = store.latest(&Selection::All, 1000).await.unwrap();
        assert_eq!(all.len() as u64, first.counts.created);
    }

    #[tokio::test]
    async fn bad_records_are_reported_and_good_ones_still_imported() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("wire.sqlite3")).unwrap();
        let file = dir.path().join("desk.ndjson");
        std::fs::write(
            &file,
            concat!(
                r#"{"id":"ok-1","title":"Flash","summary":"S","categories":["world"],"published":"2026-11-25T08:00:00Z"}"#,
                "\n",
                r#"{"id":"bad-1","title":"No category","summary":"S","published":"2026-11-25T08:00:00Z"}"#,
                "\n"
            ),
        )
        .unwrap();
        let report = import_path(&store, &file).await.unwrap();
        assert_eq!(report.counts.created, 1);
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].0.line, 2);
        assert!(report.rejected[0].1.contains("/categories"));
    }
}
