//! Files read again without a restart: the TLS certificate pair and the partners file. A
//! [`Reloadable`] is looked at every so often (its files' size, modification time and inode,
//! [`Stamp`]) and on every SIGHUP; what does not load is logged by its owner and the version
//! in use is kept, so a file written half-way, or a mistake, never takes anything down.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What identifies a version of a file on disk: a new version changes at least one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl Stamp {
    /// The stamp of the file at `path` (links followed, as certbot's `live/` is made of links
    /// into `archive/`), or `None` when it cannot be read.
    pub(crate) fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

/// Something read from files that can be read again.
pub(crate) trait Reloadable: Send + Sync + 'static {
    /// What it is, for the SIGHUP log line ("the TLS certificate files").
    fn what(&self) -> &'static str;

    /// Reads the files again if they changed since they were last tried, or always when
    /// `force`d (SIGHUP). Returns whether a new version is in use; one that does not load is
    /// logged and the one in use kept. Called off the async threads: it may block.
    fn reload(&self, force: bool) -> bool;
}

/// Reloads `target` when its files change (looked at every `every`) and on every SIGHUP, for
/// the life of the process. The SIGHUP handler is installed before this returns, so a signal
/// sent once the server has said it is listening is never lost (and no longer ends the
/// process).
pub(crate) fn watch(target: Arc<dyn Reloadable>, every: Duration) -> std::io::Result<()> {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            #[cfg(unix)]
            let force = tokio::select! {
                _ = ticker.tick() => false,
                Some(()) = hangup.recv() => true,
            };
            #[cfg(not(unix))]
            let force = {
                ticker.tick().await;
                false
            };
            if force {
                tracing::info!("SIGHUP: reading {} again", target.what());
            }
            let target = Arc::clone(&target);
            // File reads and parsing off the async threads.
            let _ = tokio::task::spawn_blocking(move || target.reload(force)).await;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_file_has_a_new_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert_eq!(Stamp::of(&path), None);
        std::fs::write(&path, "one").unwrap();
        let first = Stamp::of(&path).unwrap();
        std::fs::write(&path, "three").unwrap();
        assert_ne!(Stamp::of(&path).unwrap(), first);
    }
}
