//! Tests of `ninjs`.

use super::*;

fn now() -> DateTime<Utc> {
    "2026-11-25T12:00:00Z".parse().unwrap()
}

fn map(text: &str) -> Result<Mapped, Vec<FieldError>> {
    let value: Value = serde_json::from_str(text).unwrap();
    to_draft(value.as_object().unwrap())
}

#[test]
fn ninjs_2_fields_map_onto_the_article() {
    let text = include_str!("../../../tests/fixtures/ninjs/g20-climate-finance.json");
    let article = map(text).unwrap().validate().unwrap();
    assert_eq!(
        article.id.as_str(),
        "urn-newsml-wire.example.com-20261125-g20-climate-finance"
    );
    assert!(article.title.starts_with("G20 leaders agree"));
    assert_eq!(article.byline, vec!["Lucía Fernández and Tom Okafor"]);
    assert_eq!(article.dateline.as_deref(), Some("RIO DE JANEIRO"));
    assert_eq!(article.language, "en");
    let slugs: Vec<&str> = article.categories.iter().map(|c| c.as_str()).collect();
    assert_eq!(slugs, ["g20", "world", "climate"]);
    assert_eq!(article.published.to_rfc3339(), "2026-11-25T09:12:00+00:00");
    assert_eq!(article.updated.to_rfc3339(), "2026-11-25T10:40:00+00:00");
    assert!(article.content_html.unwrap().contains("<p>"));
    assert_eq!(article.images.len(), 1);
    assert_eq!(article.images[0].width, Some(2048));
    assert!(
        article.images[0]
            .caption
            .as_deref()
            .unwrap()
            .contains("summit")
    );
    assert_eq!(article.images[0].credit.as_deref(), Some("Ana Lima/Wire"));
}

#[test]
fn ninjs_1_spellings_are_accepted() {
    let text = include_str!("../../../tests/fixtures/ninjs/markets-ninjs1.json");
    let article = map(text).unwrap().validate().unwrap();
    assert_eq!(
        article.id.as_str(),
        "https-wire.example.com-stories-asia-markets-open"
    );
    assert_eq!(
        article.url.as_deref(),
        Some("https://wire.example.com/stories/asia-markets-open")
    );
    assert_eq!(article.categories[0].as_str(), "business");
    assert_eq!(
        article.images[0].url,
        "https://img.example.com/markets/nikkei-large.jpg"
    );
    assert_eq!(
        article.summary.as_deref(),
        Some("Tokyo shares rose at the open.")
    );
}

#[test]
fn errors_point_into_the_ninjs_document() {
    let errors = map(r#"{"uri": "urn:x:1", "headlines": [{"value": "  "}],
            "bodies": [{"contenttype": "text/plain", "value": "Body."}],
            "subjects": [{"name": "World"}], "firstcreated": "yesterday"}"#)
    .unwrap()
    .validate()
    .unwrap_err();
    let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert!(pointers.contains(&"/headlines/0/value"), "{pointers:?}");
    assert!(pointers.contains(&"/firstcreated"), "{pointers:?}");
}

#[test]
fn canceled_and_withheld_withdraw_and_unknown_statuses_are_refused() {
    for status in ["canceled", "withheld"] {
        let mapped = map(&format!(r#"{{"uri": "a", "pubstatus": "{status}"}}"#)).unwrap();
        assert_eq!(mapped.withdrawn, Some(status));
    }
    assert_eq!(
        map(r#"{"uri": "a", "pubstatus": "usable"}"#)
            .unwrap()
            .withdrawn,
        None
    );
    let errors = map(r#"{"uri": "a", "pubstatus": "killed"}"#).unwrap_err();
    assert_eq!(errors[0].pointer, "/pubstatus");
}

#[test]
fn embargo_expiry_urgency_rights_and_version_are_kept() {
    let text = include_str!("../../../tests/fixtures/ninjs/g20-climate-finance.json");
    let mut doc: Value = serde_json::from_str(text).unwrap();
    doc["embargoed"] = "2026-11-26T06:00:00Z".into();
    doc["expires"] = "2026-12-25T00:00:00Z".into();
    let article = to_draft(doc.as_object().unwrap())
        .unwrap()
        .validate_at(now())
        .unwrap();
    assert_eq!(
        article.embargo,
        Some("2026-11-26T06:00:00Z".parse().unwrap())
    );
    assert_eq!(
        article.expires,
        Some("2026-12-25T00:00:00Z".parse().unwrap())
    );
    assert_eq!(article.urgency, Some(3));
    assert_eq!(article.version, Some(2));
    let rights = article.rights.unwrap();
    assert_eq!(
        rights.copyright.as_deref(),
        Some("© 2026 Wire Desk. All rights reserved.")
    );
    assert!(rights.usage_terms.unwrap().starts_with("No archiving"));
    assert_eq!(
        rights.link.as_deref(),
        Some("https://wire.example.com/rights/standard")
    );
    // ninjs 1.x: `rightsinfo` is one object.
    let one = map(
        r#"{"uri": "a", "rightsinfo": {"langid": "en", "linkedrights": "https://r.example/1"}}"#,
    )
    .unwrap();
    assert_eq!(
        one.draft.rights.unwrap().link.as_deref(),
        Some("https://r.example/1")
    );
}

#[test]
fn bad_urgency_and_version_point_at_their_fields() {
    let errors = map(r#"{"uri": "a", "urgency": "high", "version": "v2"}"#).unwrap_err();
    let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(pointers, ["/urgency", "/version"]);
    let text = include_str!("../../../tests/fixtures/ninjs/g20-climate-finance.json");
    let mut doc: Value = serde_json::from_str(text).unwrap();
    doc["urgency"] = 12.into();
    let errors = to_draft(doc.as_object().unwrap())
        .unwrap()
        .validate_at(now())
        .unwrap_err();
    assert_eq!(errors[0].pointer, "/urgency");
}

#[test]
fn wrong_types_are_named() {
    let errors = map(r#"{"uri": 7, "subjects": "world"}"#).unwrap_err();
    let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(pointers, ["/uri", "/subjects"]);
}

#[test]
fn a_malformed_list_item_is_reported_once() {
    let errors = map(r#"{"uri": "a", "bodies": [7, {"contenttype": "text/plain", "value": "x"}]}"#)
        .unwrap_err();
    let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(pointers, ["/bodies/0"]);
}

#[test]
fn ids_and_slugs() {
    assert_eq!(
        id_from_uri("urn:newsml:x.org:2026:AB_1"),
        "urn-newsml-x.org-2026-AB_1"
    );
    assert_eq!(id_from_uri("https://w.example/a b"), "https-w.example-a-b");
    assert_eq!(slugify("Asia Pacific"), "asia-pacific");
    assert_eq!(slugify("G20"), "g20");
    assert_eq!(
        slugify("economy, business and finance"),
        "economy-business-and-finance"
    );
    assert_eq!(slugify("体育"), "");
}

#[test]
fn media_types() {
    assert!(is_ninjs_media_type("application/ninjs+json"));
    assert!(is_ninjs_media_type("application/ninjs+json; charset=utf-8"));
    assert!(is_ninjs_media_type(
        "application/json; profile=\"http://www.iptc.org/std/ninjs/ninjs-schema_2.1.json\""
    ));
    assert!(!is_ninjs_media_type("application/json"));
}
