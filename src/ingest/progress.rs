//! How `wirefeed import` shows itself to the person running it: a progress bar with rate and
//! ETA on a terminal (indicatif), a plain line every few seconds otherwise (logs, CI, cron),
//! each rejection as it happens with file, line and reason, and a summary at the end.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::files::Location;
use super::import::Progress;
use crate::store::ImportCounts;

/// Seconds between plain progress lines when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub(crate) struct ImportProgress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    read: u64,
    total: u64,
    counts: ImportCounts,
    rejected: u64,
}

impl ImportProgress {
    /// A bar when stderr is a terminal, periodic lines otherwise.
    pub(crate) fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} \
                     {bytes_per_sec} ETA {eta}  {msg}",
                )
                .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Self {
            bar,
            started: now,
            last_line: now,
            read: 0,
            total: 0,
            counts: ImportCounts::default(),
            rejected: 0,
        }
    }

    fn stories(&self) -> u64 {
        self.counts.total()
    }

    fn rate(&self) -> f64 {
        self.stories() as f64 / self.started.elapsed().as_secs_f64().max(0.001)
    }

    pub(crate) fn rejected_count(&self) -> u64 {
        self.rejected
    }

    /// The closing summary, on stdout.
    pub(crate) fn finish(self) -> String {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let c = self.counts;
        format!(
            "imported {} new, {} updated, {} unchanged, {} rejected{} in {:.1} s ({:.0} stories/s)",
            c.created,
            c.updated,
            c.unchanged,
            self.rejected,
            left_killed(&c),
            self.started.elapsed().as_secs_f64(),
            self.rate()
        )
    }
}

/// The stories the import did not bring back because their ids had been killed, when any.
fn left_killed(counts: &ImportCounts) -> String {
    match counts.killed {
        0 => String::new(),
        n => format!(", {n} left killed (a kill is final)"),
    }
}

impl Default for ImportProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for ImportProgress {
    fn read(&mut self, read: u64, total: u64) {
        self.read = read;
        self.total = total;
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(read);
            }
            None if self.last_line.elapsed() >= LINE_EVERY => {
                self.last_line = Instant::now();
                let percent = 100.0 * read as f64 / total.max(1) as f64;
                eprintln!(
                    "import: {percent:.0}% of {} bytes read, {} stories stored ({:.0}/s), {} rejected",
                    total,
                    self.stories(),
                    self.rate(),
                    self.rejected
                );
            }
            None => {}
        }
    }

    fn stored(&mut self, counts: &ImportCounts) {
        self.counts = *counts;
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "{} new, {} updated, {} unchanged, {} rejected{}",
                counts.created,
                counts.updated,
                counts.unchanged,
                self.rejected,
                left_killed(counts)
            ));
        }
    }

    fn rejected(&mut self, at: Location, reason: String) {
        self.rejected += 1;
        let line = format!("rejected {at}: {reason}");
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }
}
