//! Tests of `draft`.

use super::*;

fn draft() -> ArticleDraft {
    ArticleDraft {
        id: Some("xw-2026-1125-001".into()),
        title: Some("G20 leaders pledge \"Hangzhou consensus\" on trade & growth".into()),
        summary: Some("Leaders agreed on a common line.".into()),
        content_html: Some("<p>HANGZHOU — Leaders agreed.</p>".into()),
        byline: vec!["Li Wei".into()],
        source: Some("Xinhua".into()),
        dateline: Some("HANGZHOU, China".into()),
        language: Some("en".into()),
        categories: vec!["world".into(), "g20".into()],
        published: Some("2026-11-25T08:30:00Z".into()),
        updated: None,
        url: None,
        images: vec![],
        ..ArticleDraft::default()
    }
}

fn pointers(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.pointer.as_str()).collect()
}

#[test]
fn a_complete_draft_becomes_an_article_with_updated_defaulting_to_published() {
    let article = draft().validate().unwrap();
    assert_eq!(article.id.as_str(), "xw-2026-1125-001");
    assert_eq!(article.updated, article.published);
    assert_eq!(article.categories.len(), 2);
}

#[test]
fn every_missing_field_is_reported_at_once() {
    let errors = ArticleDraft::default().validate().unwrap_err();
    let ptrs = pointers(&errors);
    for expected in [
        "/id",
        "/title",
        "/content_html",
        "/categories",
        "/published",
    ] {
        assert!(ptrs.contains(&expected), "{expected} missing from {ptrs:?}");
    }
}

#[test]
fn ids_with_slashes_or_spaces_are_refused() {
    for bad in ["a/b", "a b", "-lead", "", &"x".repeat(MAX_ID_LEN + 1)] {
        assert!(ArticleId::parse(bad).is_err(), "{bad:?} accepted");
    }
    assert!(ArticleId::parse("reuters.2026-11-25_A1").is_ok());
}

#[test]
fn category_slugs_are_lower_case_dash_separated_words() {
    for good in ["g20", "world", "asia-pacific"] {
        assert!(Category::parse(good).is_ok());
    }
    for bad in ["World", "asia--pacific", "-world", "world-", "a b", ""] {
        assert!(Category::parse(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(
        Category::parse("asia-pacific").unwrap().label(),
        "Asia Pacific"
    );
}

#[test]
fn control_characters_are_removed_and_whitespace_collapsed_in_titles() {
    let mut d = draft();
    d.title = Some("Markets\u{0}  rally\n after\u{1b} talks\u{FFFF}".into());
    assert_eq!(d.validate().unwrap().title, "Markets rally after talks");
}

#[test]
fn updated_before_published_is_refused() {
    let mut d = draft();
    d.updated = Some("2026-11-24T08:30:00Z".into());
    assert_eq!(pointers(&d.validate().unwrap_err()), ["/updated"]);
}

fn at(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t).unwrap().to_utc()
}

fn refusal(d: ArticleDraft, now: &str) -> Vec<FieldError> {
    d.validate_at(at(now)).unwrap_err()
}

#[test]
fn dates_more_than_a_day_ahead_are_refused_as_embargoes() {
    let now = "2026-11-25T08:00:00Z";
    let mut d = draft();
    d.published = Some("2026-11-26T08:00:00Z".into());
    assert!(
        d.clone().validate_at(at(now)).is_ok(),
        "a day ahead is a wrong clock"
    );
    d.published = Some("2026-11-26T08:00:01Z".into());
    let errors = refusal(d.clone(), now);
    assert_eq!(pointers(&errors), ["/published"]);
    assert!(
        errors[0].message.contains("more than a day in the future"),
        "{errors:?}"
    );
    assert!(
        errors[0].message.contains("2026-11-25T08:00:00Z"),
        "{errors:?}"
    );
    d.published = Some("2026-11-25T07:00:00Z".into());
    d.updated = Some("2027-01-01T00:00:00+14:00".into());
    assert_eq!(pointers(&refusal(d, now)), ["/updated"]);
}

#[test]
fn leap_seconds_are_refused_with_what_to_send_instead() {
    for (field, raw) in [
        ("/published", "2016-12-31T23:59:60Z"),
        ("/published", "2017-01-01T08:59:60+09:00"),
        ("/updated", "2026-11-25T08:30:60.5Z"),
    ] {
        let mut d = draft();
        if field == "/published" {
            d.published = Some(raw.into());
        } else {
            d.updated = Some(raw.into());
        }
        let errors = refusal(d, "2026-11-25T12:00:00Z");
        assert_eq!(pointers(&errors), [field], "{raw}");
        assert!(errors[0].message.contains("leap second"), "{errors:?}");
    }
}

#[test]
fn years_after_9999_are_refused_by_name() {
    for raw in [
        "10000-01-01T00:00:00Z",
        "+10000-01-01T00:00:00Z",
        "275760-09-13T00:00:00Z",
    ] {
        let mut d = draft();
        d.published = Some(raw.into());
        let errors = refusal(d, "2026-11-25T12:00:00Z");
        assert_eq!(pointers(&errors), ["/published"], "{raw}");
        assert!(errors[0].message.contains("after 9999"), "{errors:?}");
    }
    let mut d = draft();
    d.published = Some("9999-12-31T23:59:59Z".into());
    let errors = refusal(d, "2026-11-25T12:00:00Z");
    assert!(errors[0].message.contains("future") || errors[0].message.contains("2262"));
}

#[test]
fn pictures_may_carry_their_size_and_a_thumbnail() {
    let mut d = draft();
    d.images = vec![ImageDraft {
        url: Some("https://img.example.com/a.jpg".into()),
        length: Some(48_213),
        thumbnail: Some(ThumbnailDraft {
            url: Some("https://img.example.com/a-thumb.jpg".into()),
            width: Some(160),
            height: Some(90),
        }),
        ..ImageDraft::default()
    }];
    let article = d.clone().validate().unwrap();
    assert_eq!(article.images[0].length, Some(48_213));
    assert_eq!(
        article.images[0].thumbnail.as_ref().unwrap().width,
        Some(160)
    );
    let back = Article::from_stored_json(&article.to_json()).unwrap();
    assert_eq!(back, article);
    d.images[0].length = Some(0);
    d.images[0].thumbnail = Some(ThumbnailDraft {
        url: None,
        width: Some(0),
        height: None,
    });
    let errors = d.validate().unwrap_err();
    assert_eq!(
        pointers(&errors),
        [
            "/images/0/length",
            "/images/0/thumbnail/url",
            "/images/0/thumbnail/width"
        ]
    );
}

#[test]
fn offsets_are_normalised_to_utc_exactly() {
    let mut d = draft();
    d.published = Some("2026-11-25T16:30:00.123456789+08:00".into());
    let article = d.validate().unwrap();
    assert_eq!(
        article.published.to_rfc3339(),
        "2026-11-25T08:30:00.123456789+00:00"
    );
}

#[test]
fn bad_image_fields_are_located_by_index() {
    let mut d = draft();
    d.images = vec![ImageDraft {
        url: Some("javascript:alert(1)".into()),
        media_type: Some("text/html".into()),
        width: Some(0),
        ..ImageDraft::default()
    }];
    let errors = d.validate().unwrap_err();
    assert_eq!(
        pointers(&errors),
        ["/images/0/url", "/images/0/type", "/images/0/width"]
    );
}

#[test]
fn unknown_fields_are_refused_by_name() {
    let errors = Article::from_json(r#"{"id":"a1","bylines":["X"]}"#).unwrap_err();
    assert!(errors[0].message.contains("bylines"), "{errors:?}");
}

#[test]
fn an_article_round_trips_through_its_json() {
    let article = draft().validate().unwrap();
    assert_eq!(Article::from_json(&article.to_json()).unwrap(), article);
    assert_eq!(
        Article::from_stored_json(&article.to_json()).unwrap(),
        article
    );
}

#[test]
fn embargo_expiry_urgency_rights_and_version_are_checked_and_kept() {
    let now: DateTime<Utc> = "2026-11-25T12:00:00Z".parse().unwrap();
    let article = ArticleDraft {
        embargo: Some("2026-12-01T05:00:00Z".into()),
        expires: Some("2027-01-01T00:00:00Z".into()),
        urgency: Some(1),
        version: Some(3),
        rights: Some(RightsDraft {
            copyright: Some(" © 2026 Xinhua ".into()),
            usage_terms: Some("".into()),
            link: Some("https://wire.example.com/rights".into()),
        }),
        ..draft()
    }
    .validate_at(now)
    .unwrap();
    // An embargo may lie more than a day ahead, unlike the story's own dates.
    assert_eq!(
        article.embargo,
        Some("2026-12-01T05:00:00Z".parse().unwrap())
    );
    assert_eq!(
        article.expires,
        Some("2027-01-01T00:00:00Z".parse().unwrap())
    );
    assert_eq!((article.urgency, article.version), (Some(1), Some(3)));
    let rights = article.rights.unwrap();
    assert_eq!(rights.copyright.as_deref(), Some("© 2026 Xinhua"));
    assert_eq!(rights.usage_terms, None);

    // An embargo already lifted holds nothing; blank rights are none.
    let lifted = ArticleDraft {
        embargo: Some("2026-11-25T11:00:00Z".into()),
        rights: Some(RightsDraft::default()),
        ..draft()
    }
    .validate_at(now)
    .unwrap();
    assert_eq!((lifted.embargo, lifted.rights), (None, None));

    let errors = ArticleDraft {
        urgency: Some(10),
        version: Some(-1),
        embargo: Some("soon".into()),
        rights: Some(RightsDraft {
            link: Some("javascript:alert(1)".into()),
            ..RightsDraft::default()
        }),
        ..draft()
    }
    .validate_at(now)
    .unwrap_err();
    assert_eq!(
        pointers(&errors),
        ["/embargo", "/urgency", "/rights/link", "/version"]
    );
}

#[test]
fn stories_stored_before_the_new_fields_still_read() {
    let old = r#"{"id":"a","title":"T","summary":"S","byline":[],"language":"en","categories":["world"],"published":"2026-11-25T08:00:00Z","updated":"2026-11-25T08:00:00Z","images":[]}"#;
    let article = Article::from_stored_json(old).unwrap();
    assert_eq!((article.urgency, article.embargo), (None, None));
    assert_eq!(article.to_json(), old, "absent fields are not written");
}
