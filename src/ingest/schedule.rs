//! The clock's writes: every process releases held stories when their embargo lifts, through
//! the desk ([`Desk::release_due`]). Each process looks at least once a second, and sleeps
//! until the next lift the store knows of when that is sooner, so a release lands within
//! milliseconds of its lift time when the hold was seen beforehand, and within a second when a
//! story is held (on any replica) less than a second before it lifts. A process that was down
//! over a lift time releases the story as soon as it starts; the store makes sure only one
//! process files it.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::publish::Desk;
use crate::shutdown::Shutdown;

/// The longest sleep between looks at the held stories.
pub(crate) const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Releases held stories as they lift, until shutdown.
pub(crate) async fn run(desk: Arc<Desk>, mut shutdown: Shutdown) {
    loop {
        let now = Utc::now();
        let pause = match desk.release_due(now).await {
            Ok(releases) => releases
                .next
                .and_then(|next| (next - now).to_std().ok())
                .map_or(LOOK_EVERY, |until| until.min(LOOK_EVERY)),
            Err(e) => {
                // The store's health tracker reports an outage once; this is the detail.
                tracing::debug!(error = %e, "could not release held stories; trying again");
                LOOK_EVERY
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.recv() => return,
        }
    }
}
