//! Importing article files into the store: `wirefeed import PATH`.
//!
//! A reader thread walks the files and streams records over a bounded channel; valid stories
//! are written in batches, each batch in one transaction, so an interrupted import leaves whole
//! batches and re-running it is harmless (stories are keyed by id, and an identical story is
//! left untouched). Invalid records are counted and reported with file, line and reason; they
//! never stop the others. A story whose id was killed stays killed — a kill is final — and is
//! counted as such in the summary.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::files::{self, FilesError, Location, Record};
use super::publish::Desk;
use crate::store::{ImportCounts, StoreError};

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

/// What an import tells whoever watches it, as it goes.
pub trait Progress: Send {
    /// `read` of `total` bytes of article files have been read.
    fn read(&mut self, _read: u64, _total: u64) {}
    /// Totals written to the store so far (after each batch).
    fn stored(&mut self, _counts: &ImportCounts) {}
    /// A record that was not imported, and why.
    fn rejected(&mut self, at: Location, reason: String);
}

/// Keeps every rejection, for callers that report at the end.
#[derive(Debug, Default)]
pub struct Collect {
    pub rejected: Vec<(Location, String)>,
}

impl Progress for Collect {
    fn rejected(&mut self, at: Location, reason: String) {
        self.rejected.push((at, reason));
    }
}

/// Imports every article file under `path`, keeping the rejections for the report.
pub async fn import_path(desk: &Desk, path: &Path) -> Result<Report, ImportError> {
    let mut collect = Collect::default();
    let counts = import_with(desk, path, &mut collect).await?;
    Ok(Report {
        counts,
        rejected: collect.rejected,
    })
}

/// Imports every article file under `path`, telling `progress` as it goes. Memory stays
/// bounded whatever the size of the import: one batch of stories and one story being read.
pub async fn import_with(
    desk: &Desk,
    path: &Path,
    progress: &mut dyn Progress,
) -> Result<ImportCounts, ImportError> {
    let paths = files::article_files(path)?;
    let total: u64 = paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let (tx, mut rx) = mpsc::channel::<(Location, Record, u64)>(BATCH * 2);
    let reader = tokio::task::spawn_blocking(move || read_all(&paths, &tx));

    let mut counts = ImportCounts::default();
    let mut batch = Vec::with_capacity(BATCH);
    while let Some((location, record, read)) = rx.recv().await {
        match record {
            Ok(article) => batch.push(article),
            Err(reason) => progress.rejected(location, reason),
        }
        if batch.len() == BATCH {
            counts.merge(desk.import(std::mem::take(&mut batch)).await?);
            progress.stored(&counts);
        }
        progress.read(read, total);
    }
    if !batch.is_empty() {
        counts.merge(desk.import(batch).await?);
        progress.stored(&counts);
    }
    reader
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))??;
    Ok(counts)
}

fn read_all(
    paths: &[PathBuf],
    tx: &mpsc::Sender<(Location, Record, u64)>,
) -> Result<(), FilesError> {
    let mut done = 0u64;
    for path in paths {
        let mut open = true;
        files::read_file(path, |location, record, read| {
            // A closed channel means the importer stopped on a store error; it reports that.
            open = open && tx.blocking_send((location, record, done + read)).is_ok();
        })?;
        if !open {
            break;
        }
        done += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::model::Selection;
    use crate::store::Store;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn importing_twice_changes_nothing_the_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("wire.sqlite3")).unwrap());
        let desk = Desk::standalone(Arc::clone(&store));
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample");
        let first = import_path(&desk, &sample).await.unwrap();
        assert!(first.counts.created >= 30, "{first:?}");
        assert!(first.rejected.is_empty(), "{:?}", first.rejected);
        let second = import_path(&desk, &sample).await.unwrap();
        assert_eq!(second.counts.created + second.counts.updated, 0);
        assert_eq!(second.counts.unchanged, first.counts.created);
        let all = store.latest(&Selection::All, 1000).await.unwrap();
        assert_eq!(all.len() as u64, first.counts.created);
    }

    #[tokio::test]
    async fn bad_records_are_reported_and_good_ones_still_imported() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("wire.sqlite3")).unwrap());
        let desk = Desk::standalone(Arc::clone(&store));
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
        let report = import_path(&desk, &file).await.unwrap();
        assert_eq!(report.counts.created, 1);
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].0.line, 2);
        assert!(report.rejected[0].1.contains("/categories"));
    }
}
