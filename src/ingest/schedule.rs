//! The clock's writes: every process releases held stories when their embargo lifts
//! ([`Desk::release_due`]) and withdraws stories when their `expires` comes
//! ([`Desk::withdraw_due`]), through the desk. Each process looks at least once a second, and sleeps
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

/// Releases held stories as they lift and withdraws expired ones, until shutdown.
pub(crate) async fn run(desk: Arc<Desk>, mut shutdown: Shutdown) {
    loop {
        let now = Utc::now();
        let mut next: Option<chrono::DateTime<Utc>> = None;
        for pass in [desk.release_due(now).await, desk.withdraw_due(now).await] {
            match pass {
                Ok(pass) => next = next.into_iter().chain(pass.next).min(),
                // The store's health tracker reports an outage once; this is the detail.
                Err(e) => {
                    tracing::debug!(error = %e, "could not release or withdraw; trying again")
                }
            }
        }
        let pause = next
            .and_then(|next| (next - now).to_std().ok())
            .map_or(LOOK_EVERY, |until| until.min(LOOK_EVERY));
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.recv() => return,
        }
    }
}
