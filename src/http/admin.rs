//! `GET /admin`: the operator's page. Signs in with an ingest token, as a bearer token or as
//! the password of Basic authentication (any user name) so a browser can open it; gathers the
//! last 24 hours of polls, today's readers, the live WebSub subscriptions per feed and the
//! partners' requests of the last 14 days, and hands them to the renderer.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::App;
use super::auth::AuthError;
use super::error::HttpError;
use super::problem::Problem;
use super::response::{self, Body};
use crate::audience::{feed_name, hour_start};
use crate::model::FeedFormat;
use crate::render::admin::{FeedReport, HourPolls, PartnerReport, Report};

/// Hours shown, the one now running included.
const HOURS: i64 = 24;
/// Days of partner usage shown, today included.
const PARTNER_DAYS: i64 = 14;

pub(crate) async fn render(
    app: &App,
    request: &Request<Incoming>,
) -> Result<Response<Body>, HttpError> {
    app.tokens
        .check_operator(request.headers())
        .map_err(unauthorized)?;
    app.audience.flush().await?;
    let now = Utc::now();
    let this_hour = DateTime::from_timestamp(hour_start(now), 0).unwrap_or(now);
    let hours: Vec<DateTime<Utc>> = (0..HOURS)
        .rev()
        .map(|back| this_hour - Duration::hours(back))
        .collect();

    // Every feed there is, then any name the figures hold besides (a category since emptied).
    let mut feeds = Feeds {
        site: &app.site,
        slots: hours.len(),
        by_name: BTreeMap::new(),
    };
    for def in app.feeds().await? {
        for format in FeedFormat::ALL {
            feeds.entry(&feed_name(&def.slug, format));
        }
    }
    for row in app.audience.hourly(hours[0]).await? {
        let Some(at) = hours.iter().position(|h| *h == row.hour) else {
            continue;
        };
        feeds.entry(&row.feed).hourly[at].add(HourPolls {
            polls: row.polls,
            not_modified: row.not_modified,
            sent: row.bytes_sent,
            saved: row.bytes_saved,
        });
    }
    for day in app.audience.figures(now.date_naive()).await? {
        let feed = feeds.entry(&day.feed);
        feed.subscribers = day.subscribers;
        feed.aggregators = day.aggregators;
    }
    let readers_today = app
        .audience
        .totals(now.date_naive())
        .await?
        .first()
        .map_or(0, |today| today.subscribers);
    for (topic, count) in app.store.subscribed_topics(now).await? {
        if let Some((slug, format)) = app.site.feed_from_url(&topic) {
            feeds.entry(&feed_name(&slug, format)).websub += count;
        }
    }

    let (days, partners) = partners(app, now).await?;
    let mut feeds: Vec<FeedReport> = feeds.by_name.into_values().collect();
    // The busiest first: where the traffic goes is what the page is for.
    feeds.sort_by_key(|f| std::cmp::Reverse(f.hourly.iter().map(|h| h.polls).sum::<u64>()));
    let html = crate::render::admin::page(
        &app.site,
        &Report {
            hours,
            feeds,
            readers_today,
            generated: now,
            days,
            partners,
        },
    );
    let mut response = response::bytes(StatusCode::OK, response::HTML, html);
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    Ok(response)
}

/// The days shown and every partner's requests on each: the partners of the file, then any
/// other name the usage holds (a partner since removed).
async fn partners(
    app: &App,
    now: DateTime<Utc>,
) -> Result<(Vec<DateTime<Utc>>, Vec<PartnerReport>), HttpError> {
    let set = app.partners.current();
    if !app.partners.configured() {
        return Ok((Vec::new(), Vec::new()));
    }
    let today = now.date_naive();
    let days: Vec<chrono::NaiveDate> = (0..PARTNER_DAYS)
        .rev()
        .map(|back| today - Duration::days(back))
        .collect();
    let mut reports: Vec<PartnerReport> = set
        .partners()
        .iter()
        .map(|p| PartnerReport {
            name: p.name.clone(),
            daily: vec![HourPolls::default(); days.len()],
            quota_hour: p.quota_hour,
            quota_day: p.quota_day,
        })
        .collect();
    for (day, partner, counts) in app.usage.days(days[0]).await? {
        let Some(at) = days.iter().position(|d| *d == day) else {
            continue;
        };
        let report = match reports.iter().position(|r| r.name == partner) {
            Some(i) => &mut reports[i],
            None => {
                reports.push(PartnerReport {
                    name: partner,
                    daily: vec![HourPolls::default(); days.len()],
                    ..PartnerReport::default()
                });
                reports.last_mut().expect("pushed above")
            }
        };
        report.daily[at].add(HourPolls {
            polls: counts.requests,
            not_modified: counts.not_modified,
            sent: counts.bytes,
            saved: 0,
        });
    }
    let starts = days
        .iter()
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .collect();
    Ok((starts, reports))
}

/// The page's feeds by name, each added the first time a figure names it.
struct Feeds<'a> {
    site: &'a crate::site::Site,
    slots: usize,
    by_name: BTreeMap<String, FeedReport>,
}

impl Feeds<'_> {
    fn entry(&mut self, name: &str) -> &mut FeedReport {
        let (site, slots) = (self.site, self.slots);
        self.by_name
            .entry(name.to_owned())
            .or_insert_with(|| FeedReport {
                name: name.to_owned(),
                // The stored name is the feed's path under /feeds/ (`world.atom`).
                href: crate::site::Path::parse(&format!("/feeds/{name}"), None)
                    .map(|path| site.href(&path))
                    .unwrap_or_default(),
                hourly: vec![HourPolls::default(); slots],
                ..FeedReport::default()
            })
    }
}

fn unauthorized(e: AuthError) -> HttpError {
    let (status, detail, challenge) = match e {
        AuthError::Disabled => (
            StatusCode::FORBIDDEN,
            "The operator's page needs an ingest token, and none is set: set WIREFEED_INGEST_TOKEN (or ingest_tokens in the config file).",
            None,
        ),
        AuthError::Missing => (
            StatusCode::UNAUTHORIZED,
            "Sign in with any user name and an ingest token as the password.",
            Some("Basic realm=\"wirefeed operators\", charset=\"UTF-8\""),
        ),
        AuthError::Invalid => (
            StatusCode::UNAUTHORIZED,
            "That password is not an ingest token this server accepts.",
            Some("Basic realm=\"wirefeed operators\", charset=\"UTF-8\""),
        ),
    };
    HttpError::Unauthorized(Problem::new(status, "Not authorised", detail), challenge)
}
