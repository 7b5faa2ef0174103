//! The operator's page: per feed, polls per hour, the share answered 304, bytes saved, readers
//! and WebSub subscriptions over the last 24 hours; per partner, requests per day over the
//! last 14 days (304s apart) against its quotas. Tables and small bar charts drawn as SVG on
//! the server (no JavaScript). Pure: it is handed the figures and returns HTML.

use std::collections::BTreeMap;

use askama::Template;
use chrono::{DateTime, Utc};

use super::html::Chrome;
use crate::site::Site;

/// One feed's polls in one hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HourPolls {
    pub(crate) polls: u64,
    pub(crate) not_modified: u64,
    pub(crate) sent: u64,
    pub(crate) saved: u64,
}

impl HourPolls {
    pub(crate) fn add(&mut self, other: HourPolls) {
        self.polls = self.polls.saturating_add(other.polls);
        self.not_modified = self.not_modified.saturating_add(other.not_modified);
        self.sent = self.sent.saturating_add(other.sent);
        self.saved = self.saved.saturating_add(other.saved);
    }
}

/// What the page shows of one feed.
#[derive(Debug, Clone, Default)]
pub(crate) struct FeedReport {
    /// Its path under `/feeds/`, e.g. `world.atom`.
    pub(crate) name: String,
    pub(crate) href: String,
    /// One per hour of [`Report::hours`].
    pub(crate) hourly: Vec<HourPolls>,
    /// Today's readers: aggregators' reported subscribers plus distinct direct clients.
    pub(crate) subscribers: u64,
    pub(crate) aggregators: BTreeMap<String, u64>,
    /// Live WebSub subscriptions.
    pub(crate) websub: u64,
}

/// What the page shows of one partner.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartnerReport {
    pub(crate) name: String,
    /// One per day of [`Report::days`]: `polls` are requests, `sent` body bytes.
    pub(crate) daily: Vec<HourPolls>,
    pub(crate) quota_hour: Option<u64>,
    pub(crate) quota_day: Option<u64>,
}

/// The figures the page is drawn from.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// The start of each hour shown, oldest first; the last is the hour now running.
    pub(crate) hours: Vec<DateTime<Utc>>,
    pub(crate) feeds: Vec<FeedReport>,
    /// Today's readers of the whole server: distinct direct clients across every feed plus
    /// each aggregator's largest figure (not the sum of the feeds' figures, which counts a
    /// reader of fifteen feeds fifteen times).
    pub(crate) readers_today: u64,
    /// When the figures were read.
    pub(crate) generated: DateTime<Utc>,
    /// The start of each UTC day of partner usage shown, oldest first (today last).
    pub(crate) days: Vec<DateTime<Utc>>,
    /// Every partner of the partners file, and any other name the usage holds.
    pub(crate) partners: Vec<PartnerReport>,
}

struct PartnerRow {
    name: String,
    today: String,
    today_304: String,
    today_sent: String,
    fortnight: String,
    quota: String,
    chart: Chart,
}

struct Bar {
    x: u32,
    /// Top of the whole bar (every poll) and its height.
    y: u32,
    height: u32,
    /// Top and height of the part answered 304.
    y_304: u32,
    height_304: u32,
    title: String,
}

struct Chart {
    /// `chart` or `chart chart-large`.
    class: &'static str,
    bar_width: u32,
    width: u32,
    height: u32,
    label: String,
    bars: Vec<Bar>,
    /// Hour marks under a large chart: (x, text).
    ticks: Vec<(u32, String)>,
}

struct Row {
    name: String,
    href: String,
    polls: String,
    per_hour: String,
    last_hour: String,
    share_304: String,
    saved: String,
    sent: String,
    subscribers: String,
    aggregators: String,
    websub: String,
    chart: Chart,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    chrome: Chrome,
    generated: String,
    generated_datetime: String,
    summary: Vec<(&'static str, String)>,
    chart: Chart,
    rows: Vec<Row>,
    partner_chart: Option<Chart>,
    partner_rows: Vec<PartnerRow>,
}

/// The operator's page.
pub(crate) fn page(site: &Site, report: &Report) -> String {
    let mut total = vec![HourPolls::default(); report.hours.len()];
    for feed in &report.feeds {
        for (sum, hour) in total.iter_mut().zip(&feed.hourly) {
            sum.add(*hour);
        }
    }
    let whole = sum(&total);
    let summary = vec![
        ("Polls in 24 hours", thousands(whole.polls)),
        ("Answered 304", share(whole.not_modified, whole.polls)),
        ("Bytes saved", bytes(whole.saved)),
        ("Bytes sent", bytes(whole.sent)),
        ("Readers today", thousands(report.readers_today)),
        (
            "WebSub subscriptions",
            thousands(
                report
                    .feeds
                    .iter()
                    .map(|f| f.websub)
                    .fold(0, u64::saturating_add),
            ),
        ),
    ];
    let rows = report
        .feeds
        .iter()
        .map(|feed| {
            let polls = sum(&feed.hourly);
            let hours = feed.hourly.len().max(1) as f64;
            Row {
                name: feed.name.clone(),
                href: feed.href.clone(),
                polls: thousands(polls.polls),
                per_hour: rate(polls.polls as f64 / hours),
                last_hour: thousands(feed.hourly.last().map_or(0, |h| h.polls)),
                share_304: share(polls.not_modified, polls.polls),
                saved: bytes(polls.saved),
                sent: bytes(polls.sent),
                subscribers: thousands(feed.subscribers),
                aggregators: feed
                    .aggregators
                    .iter()
                    .map(|(name, n)| format!("{name} {}", thousands(*n)))
                    .collect::<Vec<_>>()
                    .join(" · "),
                websub: thousands(feed.websub),
                chart: chart(&report.hours, &feed.hourly, Size::Small, &feed.name),
            }
        })
        .collect();
    let (partner_chart, partner_rows) = partners(report);
    super::html::render(AdminPage {
        chrome: Chrome::new(site, format!("Operator — {}", site.title), "en", &[]),
        generated: report
            .generated
            .format("%-d %b %Y %H:%M:%S UTC")
            .to_string(),
        generated_datetime: report
            .generated
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        summary,
        chart: chart(&report.hours, &total, Size::Large, "every feed"),
        rows,
        partner_chart,
        partner_rows,
    })
}

/// The partners' chart (every partner's requests per day) and table.
fn partners(report: &Report) -> (Option<Chart>, Vec<PartnerRow>) {
    if report.partners.is_empty() {
        return (None, Vec::new());
    }
    let mut total = vec![HourPolls::default(); report.days.len()];
    for partner in &report.partners {
        for (sum, day) in total.iter_mut().zip(&partner.daily) {
            sum.add(*day);
        }
    }
    let rows = report
        .partners
        .iter()
        .map(|p| {
            let today = p.daily.last().copied().unwrap_or_default();
            let quota = [
                p.quota_hour.map(|q| format!("{} an hour", thousands(q))),
                p.quota_day.map(|q| format!("{} a day", thousands(q))),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            PartnerRow {
                name: p.name.clone(),
                today: thousands(today.polls),
                today_304: thousands(today.not_modified),
                today_sent: bytes(today.sent),
                fortnight: thousands(sum(&p.daily).polls),
                quota: if quota.is_empty() {
                    "none".to_owned()
                } else {
                    quota
                },
                chart: chart_of(&report.days, &p.daily, Size::Small, Unit::Day, &p.name),
            }
        })
        .collect();
    let chart = chart_of(
        &report.days,
        &total,
        Size::Large,
        Unit::Day,
        "every partner",
    );
    (Some(chart), rows)
}
fn sum(hours: &[HourPolls]) -> HourPolls {
    let mut total = HourPolls::default();
    for hour in hours {
        total.add(*hour);
    }
    total
}

#[derive(Clone, Copy)]
enum Size {
    Small,
    Large,
}

/// What one bar stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A feed's polls in an hour.
    Hour,
    /// A partner's requests in a day.
    Day,
}

/// Bars of polls per hour, the part answered 304 drawn darker, scaled to the busiest hour.
fn chart(hours: &[DateTime<Utc>], polls: &[HourPolls], size: Size, what: &str) -> Chart {
    chart_of(hours, polls, size, Unit::Hour, what)
}

/// Bars per hour or day, the part answered 304 drawn darker, scaled to the busiest.
fn chart_of(
    hours: &[DateTime<Utc>],
    polls: &[HourPolls],
    size: Size,
    unit: Unit,
    what: &str,
) -> Chart {
    let (slot, noun, title_at, tick_at, tick_every) = match unit {
        Unit::Hour => ("hour", "polls", "%H:00 UTC", "%H:00", 6),
        Unit::Day => ("day", "requests", "%-d %b", "%-d %b", 7),
    };
    let (bar, gap, plot) = match size {
        Size::Small => (5, 1, 28),
        Size::Large => (18, 2, 100),
    };
    let busiest = polls.iter().map(|h| h.polls).max().unwrap_or(0).max(1);
    let scale = |n: u64| ((n * plot as u64).div_ceil(busiest)) as u32;
    let bars = hours
        .iter()
        .zip(polls)
        .enumerate()
        .map(|(i, (hour, p))| {
            let height = scale(p.polls);
            let height_304 = scale(p.not_modified).min(height);
            Bar {
                x: i as u32 * (bar + gap),
                y: plot - height,
                height,
                y_304: plot - height_304,
                height_304,
                title: format!(
                    "{}: {} {noun}, {} answered 304",
                    hour.format(title_at),
                    thousands(p.polls),
                    thousands(p.not_modified)
                ),
            }
        })
        .collect();
    let ticks = match size {
        Size::Small => Vec::new(),
        Size::Large => hours
            .iter()
            .enumerate()
            .filter(|(i, _)| i % tick_every == 0)
            .map(|(i, hour)| (i as u32 * (bar + gap), hour.format(tick_at).to_string()))
            .collect(),
    };
    let whole = sum(polls);
    Chart {
        class: match size {
            Size::Small => "chart",
            Size::Large => "chart chart-large",
        },
        bar_width: bar,
        width: hours.len() as u32 * (bar + gap),
        height: plot + if ticks.is_empty() { 0 } else { 16 },
        label: format!(
            "{} per {slot} of {what} over the last {} {slot}s: {} in all, {} answered 304",
            match unit {
                Unit::Hour => "Polls",
                Unit::Day => "Requests",
            },
            hours.len(),
            thousands(whole.polls),
            thousands(whole.not_modified)
        ),
        bars,
        ticks,
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Polls per hour: one decimal, two below one an hour.
fn rate(per_hour: f64) -> String {
    if per_hour > 0.0 && per_hour < 1.0 {
        format!("{per_hour:.2}")
    } else {
        format!("{per_hour:.1}")
    }
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        "—".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// A byte count in the binary units an operator reads disk and traffic in.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

#[cfg(test)]
mod tests;
