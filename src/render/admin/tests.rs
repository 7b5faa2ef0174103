//! Tests of `admin`.

use super::*;

fn hours() -> Vec<DateTime<Utc>> {
    let first: DateTime<Utc> = "2026-11-30T19:00:00Z".parse().unwrap();
    (0..24)
        .map(|i| first + chrono::Duration::hours(i))
        .collect()
}

#[test]
fn figures_read_the_way_an_operator_writes_them() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1_000), "1,000");
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(bytes(512), "512 B");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    assert_eq!(share(0, 0), "—");
    assert_eq!(share(7, 8), "87.5%");
    assert_eq!(rate(1.0 / 24.0), "0.04");
    assert_eq!(rate(0.0), "0.0");
    assert_eq!(rate(12.25), "12.2");
}

#[test]
fn bars_scale_to_the_busiest_hour_and_the_304s_sit_inside_them() {
    let mut polls = vec![HourPolls::default(); 24];
    polls[3] = HourPolls {
        polls: 200,
        not_modified: 150,
        ..Default::default()
    };
    polls[23] = HourPolls {
        polls: 50,
        not_modified: 50,
        ..Default::default()
    };
    let chart = chart(&hours(), &polls, Size::Large, "world.atom");
    assert_eq!(chart.bars.len(), 24);
    assert_eq!((chart.bars[3].y, chart.bars[3].height), (0, 100));
    assert_eq!(chart.bars[3].height_304, 75);
    assert_eq!(chart.bars[23].height, 25);
    assert_eq!(chart.bars[23].height_304, 25);
    assert_eq!(chart.bars[0].height, 0);
    assert_eq!(
        chart.bars[3].title,
        "22:00 UTC: 200 polls, 150 answered 304"
    );
    assert_eq!(chart.ticks.len(), 4);
    assert!(chart.label.contains("250 in all, 200 answered 304"));
}

#[test]
fn the_page_escapes_what_it_is_given_and_draws_a_chart_per_feed() {
    let site = Site::new("http://127.0.0.1:8080", "Wirefeed", "127.0.0.1,2026");
    let mut aggregators = BTreeMap::new();
    aggregators.insert("<Feedly>".to_owned(), 1024);
    let report = Report {
        hours: hours(),
        feeds: vec![FeedReport {
            name: "world.atom".into(),
            href: site.feed_url("world", crate::model::FeedFormat::Atom),
            hourly: vec![
                HourPolls {
                    polls: 4,
                    not_modified: 3,
                    sent: 10,
                    saved: 990
                };
                24
            ],
            subscribers: 1030,
            aggregators,
            websub: 2,
        }],
        readers_today: 987_654,
        generated: "2026-12-01T18:30:00Z".parse().unwrap(),
        days: Vec::new(),
        partners: Vec::new(),
    };
    let html = page(&site, &report);
    assert!(
        html.contains("987,654"),
        "the server's readers, not the feeds' sum"
    );
    assert!(html.contains("&#60;Feedly&#62; 1,024") || html.contains("&lt;Feedly&gt; 1,024"));
    assert!(!html.contains("<Feedly>"));
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(html.contains("75.0%"));
    assert!(html.contains("1 Dec 2026 18:30:00 UTC"));
    assert!(!html.contains("Partners"), "no partners, no section");
}

#[test]
fn partners_get_a_table_and_a_chart_per_day() {
    let site = Site::new("http://127.0.0.1:8080", "Wirefeed", "127.0.0.1,2026");
    let days: Vec<DateTime<Utc>> = (0..14)
        .map(|d| {
            "2026-11-18T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::days(d)
        })
        .collect();
    let mut daily = vec![HourPolls::default(); 14];
    daily[13] = HourPolls {
        polls: 1200,
        not_modified: 900,
        sent: 4096,
        saved: 0,
    };
    let report = Report {
        hours: hours(),
        feeds: Vec::new(),
        readers_today: 0,
        generated: "2026-12-01T18:30:00Z".parse().unwrap(),
        days,
        partners: vec![PartnerReport {
            name: "Gulf <Daily>".into(),
            daily,
            quota_hour: Some(5000),
            quota_day: None,
        }],
    };
    let html = page(&site, &report);
    assert!(html.contains("Partners"));
    assert!(!html.contains("Gulf <Daily>"));
    assert!(html.contains("1,200") && html.contains("900") && html.contains("5,000 an hour"));
    assert!(html.contains("1 Dec: 1,200 requests, 900 answered 304"));
    // The feeds' chart, the partners' chart and the partner's own.
    assert_eq!(html.matches("<svg").count(), 3);
}
