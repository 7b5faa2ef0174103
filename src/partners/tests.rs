use std::collections::BTreeMap;

use super::file::parse;
use super::*;

const TWO: &str = r#"
[[partner]]
name = "Gulf Daily"
keys = ["gulf-daily-key-0001", "sha256:4b5b2a0c3f6c0d5e1b6f2e7f4c8d9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"]
categories = { world = "full", markets = "headlines", "*" = "headlines" }
embargo_early = true
quota_hour = 5000

[[partner]]
name = "Harbour Post"
keys = ["harbour-post-key-0002"]
categories = { world = "full" }
"#;

fn c(slug: &str) -> Category {
    Category::parse(slug).unwrap()
}

#[test]
fn keys_find_their_partner_plain_or_by_digest() {
    let set = parse(TWO).unwrap();
    assert_eq!(set.find("gulf-daily-key-0001").unwrap().name, "Gulf Daily");
    assert_eq!(
        set.find("harbour-post-key-0002").unwrap().name,
        "Harbour Post"
    );
    assert!(set.find("gulf-daily-key-0002").is_none());
    assert!(set.find("").is_none());
    // A key written only as its digest.
    let key = "digest-only-key-0003";
    let hex: String = digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = format!(
        "[[partner]]\nname = \"D\"\nkeys = [\"sha256:{hex}\"]\ncategories = {{ world = \"full\" }}\n"
    );
    let set = parse(&text).unwrap();
    assert_eq!(set.find(key).unwrap().name, "D");
    assert!(
        set.find(&format!("sha256:{hex}")).is_none(),
        "the digest is not the key"
    );
}

#[test]
fn a_view_is_the_entitlement_restricted_to_the_feed_and_equal_for_equal_partners() {
    let set = parse(TWO).unwrap();
    let gulf = set.find("gulf-daily-key-0001").unwrap();
    let harbour = set.find("harbour-post-key-0002").unwrap();
    let world = Selection::Categories(vec![c("world")]);
    // Different entitlements, the same view of the world feed: but Gulf sees embargoes early.
    assert_eq!(gulf.view_of(&world).levels, harbour.view_of(&world).levels);
    let g20 = Selection::Categories(vec![c("g20")]);
    assert_eq!(
        gulf.view_of(&g20).levels,
        BTreeMap::from([(c("g20"), Level::Headlines)]),
        "\"*\" covers a category the file does not name"
    );
    assert!(harbour.view_of(&g20).is_empty());
    let all = gulf.view_of(&Selection::All);
    assert_eq!(all.others, Some(Level::Headlines));
    assert!(all.embargo_early);
    assert_eq!(gulf.quota_hour, Some(5000));
    assert_eq!(harbour.quota_day, None);
}

#[test]
fn bad_files_are_refused_with_lines_and_never_a_key() {
    let cases = [
        // Unknown field.
        (
            "[[partner]]\nname = \"A\"\nkeys = [\"aaaaaaaaaaaaaaaa1\"]\ncategories = { world = \"full\" }\nquota = 5\n",
            "line 5",
        ),
        // Short key.
        (
            "[[partner]]\nname = \"A\"\nkeys = [\"short-secret\"]\ncategories = { world = \"full\" }\n",
            "line 3",
        ),
        // A key of two partners.
        (
            "[[partner]]\nname = \"A\"\nkeys = [\"shared-secret-key-1\"]\ncategories = { world = \"full\" }\n[[partner]]\nname = \"B\"\nkeys = [\"shared-secret-key-1\"]\ncategories = { world = \"full\" }\n",
            "line 7",
        ),
        // A level that is not one.
        (
            "[[partner]]\nname = \"A\"\nkeys = [\"aaaaaaaaaaaaaaaa1\"]\ncategories = { world = \"most\" }\n",
            "line 4",
        ),
        // A key where a list was expected.
        (
            "[[partner]]\nname = \"A\"\nkeys = \"this-is-a-secret-key\"\ncategories = { world = \"full\" }\n",
            "line 3",
        ),
        // No key at all.
        (
            "[[partner]]\nname = \"A\"\nkeys = []\ncategories = { world = \"full\" }\n",
            "line 3",
        ),
    ];
    for (text, line) in cases {
        let problems = parse(text).unwrap_err();
        let all = problems.join("\n");
        assert!(all.contains(line), "{all}");
        for secret in [
            "short-secret",
            "shared-secret-key-1",
            "this-is-a-secret-key",
            "aaaaaaaaaaaaaaaa1",
        ] {
            assert!(!all.contains(secret), "{all}");
        }
    }
}

#[test]
fn a_bad_reload_keeps_the_partners_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partners.toml");
    std::fs::write(&path, TWO).unwrap();
    let partners = Partners::load(&path).unwrap();
    assert!(!partners.reload(false), "nothing changed");
    std::fs::write(&path, "[[partner]]\nname = \"broken\n").unwrap();
    assert!(!partners.reload(true));
    assert!(partners.current().find("gulf-daily-key-0001").is_some());
    std::fs::write(
        &path,
        TWO.replace("gulf-daily-key-0001", "gulf-daily-key-0099"),
    )
    .unwrap();
    assert!(partners.reload(true));
    assert!(partners.current().find("gulf-daily-key-0001").is_none());
    assert!(partners.current().find("gulf-daily-key-0099").is_some());
}
