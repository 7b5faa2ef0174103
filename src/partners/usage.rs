//! Partners' usage and quotas. Each replica counts its partners' requests per UTC hour in
//! memory and adds them to the store every [`FLUSH_EVERY`] (and at shutdown), the way the
//! audience module keeps reader figures. A quota is decided on the store's totals — every
//! replica's requests, as of this replica's last flush — plus what this replica counted since,
//! so several replicas together hold a partner to its quota, give or take what the others
//! counted in the last few seconds.
//!
//! Requests answered 200, 226 and 304 count (304s are also counted apart); refusals (401,
//! 403, 429) do not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use super::Partner;
use crate::store::{StoreError, UsageRow, UsageStore};

/// How often counts are added to the store.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// How long stored usage is kept, in days.
const KEEP_DAYS: i64 = 90;

/// Requests, 304s among them, and body bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) requests: u64,
    pub(crate) not_modified: u64,
    pub(crate) bytes: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.requests = self.requests.saturating_add(other.requests);
        self.not_modified = self.not_modified.saturating_add(other.not_modified);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

/// One quota window's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// Requests counted in the window so far, every replica's.
    pub(crate) used: u64,
    pub(crate) limit: Option<u64>,
    /// Seconds until the window ends (the next UTC hour or day).
    pub(crate) reset: u64,
    /// The window's length in seconds.
    pub(crate) length: u64,
}

impl Window {
    pub(crate) fn remaining(&self) -> Option<u64> {
        self.limit.map(|limit| limit.saturating_sub(self.used))
    }

    fn exhausted(&self) -> bool {
        self.remaining() == Some(0)
    }
}

/// Where a partner stands against its quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Standing {
    pub(crate) hour: Window,
    pub(crate) day: Window,
}

impl Standing {
    /// The limited window with the fewest requests left: the one usage headers describe.
    pub(crate) fn binding(&self) -> Option<Window> {
        [self.hour, self.day]
            .into_iter()
            .filter(|w| w.limit.is_some())
            .min_by_key(|w| (w.remaining(), std::cmp::Reverse(w.reset)))
    }

    /// Seconds until every exhausted window has ended: what `Retry-After` says.
    pub(crate) fn retry_after(&self) -> u64 {
        [self.hour, self.day]
            .into_iter()
            .filter(Window::exhausted)
            .map(|w| w.reset)
            .max()
            .unwrap_or(0)
    }
}

type Slot = (String, i64);

#[derive(Default)]
struct Local {
    /// Counted since the last flush, by partner and the start of the UTC hour.
    pending: HashMap<Slot, Counts>,
    /// Handed to a flush that has not finished.
    flushing: HashMap<Slot, Counts>,
    /// The store's requests per partner in the hour starting then, as of the last flush.
    stored_hour: (i64, HashMap<String, u64>),
    /// The store's requests per partner on that day, as of the last flush.
    stored_day: (Option<NaiveDate>, HashMap<String, u64>),
}

impl Local {
    /// Requests of `partner` counted here, not yet in the stored totals, from `since_hour` on.
    fn unflushed(&self, partner: &str, since_hour: i64) -> u64 {
        self.pending
            .iter()
            .chain(self.flushing.iter())
            .filter(|((name, hour), _)| name == partner && *hour >= since_hour)
            .map(|(_, counts)| counts.requests)
            .sum()
    }
}

pub(crate) struct Usage {
    store: Arc<dyn UsageStore>,
    local: Mutex<Local>,
    /// One flush at a time.
    flushing: tokio::sync::Mutex<()>,
    /// The last day old usage was forgotten.
    pruned: Mutex<Option<NaiveDate>>,
}

/// The start of the UTC hour holding `t`, in Unix seconds.
fn hour_of(t: DateTime<Utc>) -> i64 {
    t.timestamp() - t.timestamp().rem_euclid(3600)
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

impl Usage {
    pub(crate) fn new(store: Arc<dyn UsageStore>) -> Self {
        Self {
            store,
            local: Mutex::new(Local::default()),
            flushing: tokio::sync::Mutex::new(()),
            pruned: Mutex::new(None),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where `partner` stands at `now`: the store's totals as of the last flush plus what
    /// this replica counted since.
    pub(crate) fn standing(&self, partner: &Partner, now: DateTime<Utc>) -> Standing {
        let hour = hour_of(now);
        let today = now.date_naive();
        let local = self.local();
        let stored_hour = if local.stored_hour.0 == hour {
            local.stored_hour.1.get(&partner.name).copied().unwrap_or(0)
        } else {
            0
        };
        let stored_day = if local.stored_day.0 == Some(today) {
            local.stored_day.1.get(&partner.name).copied().unwrap_or(0)
        } else {
            0
        };
        let day_from = day_start(today).timestamp();
        let next_day = day_from + 86_400;
        Standing {
            hour: Window {
                used: stored_hour + local.unflushed(&partner.name, hour),
                limit: partner.quota_hour,
                reset: (hour + 3600 - now.timestamp()).max(1) as u64,
                length: 3600,
            },
            day: Window {
                used: stored_day + local.unflushed(&partner.name, day_from),
                limit: partner.quota_day,
                reset: (next_day - now.timestamp()).max(1) as u64,
                length: 86_400,
            },
        }
    }

    /// Whether `partner` may make one more request at `now`: its standing either way, `Err`
    /// when a quota is used up.
    pub(crate) fn admit(
        &self,
        partner: &Partner,
        now: DateTime<Utc>,
    ) -> Result<Standing, Standing> {
        let standing = self.standing(partner, now);
        if standing.hour.exhausted() || standing.day.exhausted() {
            Err(standing)
        } else {
            Ok(standing)
        }
    }

    /// Counts one answered request.
    pub(crate) fn note(&self, partner: &str, now: DateTime<Utc>, not_modified: bool, bytes: u64) {
        let mut local = self.local();
        let slot = (partner.to_owned(), hour_of(now));
        local.pending.entry(slot).or_default().add(Counts {
            requests: 1,
            not_modified: u64::from(not_modified),
            bytes,
        });
    }

    /// Adds what was counted since the last flush to the store, then reads the totals of this
    /// hour and day back (every replica's).
    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        let _one = self.flushing.lock().await;
        let rows: Vec<UsageRow> = {
            let mut local = self.local();
            let pending = std::mem::take(&mut local.pending);
            for (slot, counts) in pending {
                local.flushing.entry(slot).or_default().add(counts);
            }
            local
                .flushing
                .iter()
                .filter_map(|((partner, hour), counts)| {
                    Some(UsageRow {
                        hour: DateTime::from_timestamp(*hour, 0)?,
                        partner: partner.clone(),
                        requests: counts.requests,
                        not_modified: counts.not_modified,
                        bytes: counts.bytes,
                    })
                })
                .collect()
        };
        if !rows.is_empty() {
            if let Err(e) = self.store.add_usage(rows).await {
                // Counted again at the next flush.
                let mut local = self.local();
                let flushing = std::mem::take(&mut local.flushing);
                for (slot, counts) in flushing {
                    local.pending.entry(slot).or_default().add(counts);
                }
                return Err(e);
            }
        }
        let now = Utc::now();
        let today = now.date_naive();
        let read = self.store.usage(day_start(today)).await;
        self.take_totals(now, read)?;
        let prune = self
            .pruned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(today)
            != Some(today);
        if prune {
            self.store
                .forget_usage(day_start(today) - chrono::Duration::days(KEEP_DAYS))
                .await?;
        }
        Ok(())
    }

    /// Replaces the stored totals with what the store read after a flush; when the read
    /// failed, adds what was flushed to the old totals instead.
    fn take_totals(
        &self,
        now: DateTime<Utc>,
        read: Result<Vec<UsageRow>, StoreError>,
    ) -> Result<(), StoreError> {
        let today = now.date_naive();
        let mut local = self.local();
        let flushed = std::mem::take(&mut local.flushing);
        match read {
            Ok(stored) => {
                let hour = hour_of(now);
                let mut by_hour = HashMap::new();
                let mut by_day = HashMap::new();
                for row in stored {
                    if row.hour.timestamp() == hour {
                        *by_hour.entry(row.partner.clone()).or_default() += row.requests;
                    }
                    *by_day.entry(row.partner).or_default() += row.requests;
                }
                local.stored_hour = (hour, by_hour);
                local.stored_day = (Some(today), by_day);
                Ok(())
            }
            Err(e) => {
                // Stored, but the totals could not be read: keep counting what was flushed.
                for ((partner, hour), counts) in flushed {
                    if hour == local.stored_hour.0 {
                        *local.stored_hour.1.entry(partner.clone()).or_default() += counts.requests;
                    }
                    if local.stored_day.0 == Some(today) {
                        *local.stored_day.1.entry(partner).or_default() += counts.requests;
                    }
                }
                Err(e)
            }
        }
    }

    /// Every partner's usage per UTC day from `since` on, as stored (after a flush), by day
    /// then partner.
    pub(crate) async fn days(
        &self,
        since: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, Counts)>, StoreError> {
        self.flush().await?;
        let mut days: std::collections::BTreeMap<(NaiveDate, String), Counts> = Default::default();
        for row in self.store.usage(day_start(since)).await? {
            days.entry((row.hour.date_naive(), row.partner))
                .or_default()
                .add(Counts {
                    requests: row.requests,
                    not_modified: row.not_modified,
                    bytes: row.bytes,
                });
        }
        Ok(days.into_iter().map(|((d, p), c)| (d, p, c)).collect())
    }

    /// Flushes every [`FLUSH_EVERY`], and once more at shutdown.
    pub(crate) async fn run(self: Arc<Self>, shutdown: crate::shutdown::Shutdown) {
        crate::shutdown::every(FLUSH_EVERY, shutdown, || async {
            if let Err(e) = self.flush().await {
                tracing::warn!(error = %e, "could not store partner usage; will retry");
            }
        })
        .await;
    }
}
