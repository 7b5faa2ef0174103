//! Tests of `catalog`.

use super::*;
use crate::model::DEFAULT_ENTRIES;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn a_definition_file_shapes_its_feed() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "g20.toml",
        "title = \"G20 Summit\"\ncategories = [\"g20\", \"world\"]\nentries = 20\nmax_age = 90\n",
    );
    let catalog = Catalog::load(dir.path(), "Wirefeed").unwrap();
    let def = catalog.feed("g20", |_| false).unwrap();
    assert_eq!(def.title, "G20 Summit");
    assert_eq!(def.entries, 20);
    assert_eq!(def.ttl_minutes(), 2);
    assert_eq!(
        def.selection,
        Selection::Categories(vec![
            Category::parse("g20").unwrap(),
            Category::parse("world").unwrap()
        ])
    );
}

#[test]
fn categories_without_a_file_get_defaults_and_unknown_ones_get_nothing() {
    let catalog = Catalog::empty("Wirefeed");
    let def = catalog.feed("asia-pacific", |_| true).unwrap();
    assert_eq!(def.title, "Asia Pacific — Wirefeed");
    assert_eq!(def.entries, DEFAULT_ENTRIES);
    assert!(catalog.feed("atlantis", |_| false).is_none());
    assert!(catalog.feed("Not A Slug", |_| true).is_none());
    assert_eq!(
        catalog.feed("all", |_| false).unwrap().selection,
        Selection::All
    );
}

#[test]
fn a_bad_file_is_reported_with_its_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "world.toml", "title = \"World\"\nentires = 5\n");
    write(dir.path(), "China News.toml", "");
    let errors = Catalog::load(dir.path(), "Wirefeed").unwrap_err();
    assert_eq!(errors.len(), 2);
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(text[0].contains("China News.toml"), "{}", text[0]);
    assert!(
        text[1].contains("world.toml") && text[1].contains("line 2") && text[1].contains("entires"),
        "{}",
        text[1]
    );
}

#[cfg(unix)]
#[test]
fn a_linked_definition_is_refused_without_echoing_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("wirefeed.toml");
    std::fs::write(&secret, "ingest_token = \"s3cret-token\"\n").unwrap();
    let feeds = dir.path().join("feeds");
    std::fs::create_dir(&feeds).unwrap();
    std::os::unix::fs::symlink(&secret, feeds.join("world.toml")).unwrap();
    let errors = Catalog::load(&feeds, "Wirefeed").unwrap_err();
    let text = errors[0].to_string();
    assert!(
        text.contains("world.toml") && text.contains("symbolic link"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn a_partner_only_feed_restricts_its_categories_and_leaves_the_listings() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "markets.toml",
        "categories = [\"markets\", \"commodities\"]\naccess = \"partners\"\n",
    );
    let catalog = Catalog::load(dir.path(), "Wirefeed").unwrap();
    let (markets, world) = (
        Category::parse("markets").unwrap(),
        Category::parse("world").unwrap(),
    );
    assert!(catalog.partners_only("markets"));
    assert!(
        catalog.partners_only("commodities"),
        "a restricted category's default feed"
    );
    assert!(!catalog.partners_only("world"));
    assert!(!catalog.is_public(std::slice::from_ref(&markets)));
    assert!(catalog.is_public(&[markets.clone(), world.clone()]));
    let slugs: Vec<String> = catalog
        .list(&[markets.clone(), world.clone()])
        .into_iter()
        .map(|d| d.slug)
        .collect();
    assert_eq!(slugs, ["all", "flash", "world"]);
    assert_eq!(
        catalog.public_selection(&Selection::All, &[markets.clone(), world.clone()]),
        Some(Selection::Categories(vec![world]))
    );
    assert_eq!(
        catalog.public_selection(&Selection::Categories(vec![markets]), &[]),
        None
    );
    write(dir.path(), "all.toml", "access = \"partners\"\n");
    write(dir.path(), "g20.toml", "access = \"secret\"\n");
    let errors = Catalog::load(dir.path(), "Wirefeed").unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn the_list_puts_all_first_then_slugs_in_order() {
    let catalog = Catalog::empty("Wirefeed");
    let slugs: Vec<String> = catalog
        .list(&[
            Category::parse("world").unwrap(),
            Category::parse("china").unwrap(),
        ])
        .into_iter()
        .map(|d| d.slug)
        .collect();
    assert_eq!(slugs, ["all", "flash", "china", "world"]);
}

#[test]
fn flash_is_every_category_by_urgency_and_keeps_its_level_and_max_age() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "flash.toml",
        "title = \"Bulletins\"\nrights = \"Flash terms\"\n",
    );
    let catalog = Catalog::load(dir.path(), "Wirefeed")
        .unwrap()
        .with_flash(1, 15);
    let def = catalog.feed("flash", |_| false).unwrap();
    assert_eq!(def.title, "Bulletins");
    assert_eq!(def.selection, Selection::Urgent(1));
    assert_eq!(def.rights.as_deref(), Some("Flash terms"));
    let plain = Catalog::empty("Wirefeed").with_flash(3, 15);
    let def = plain.feed("flash", |_| true).unwrap();
    assert_eq!((def.selection, def.max_age), (Selection::Urgent(3), 15));
    write(dir.path(), "flash.toml", "categories = [\"world\"]\n");
    let errors = Catalog::load(dir.path(), "Wirefeed").unwrap_err();
    assert!(errors[0].to_string().contains("line 1"), "{}", errors[0]);
}

#[test]
fn the_configured_rights_are_every_feeds_unless_its_file_says_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "world.toml", "rights = \"© World desk\"\n");
    let catalog = Catalog::load(dir.path(), "Wirefeed")
        .unwrap()
        .with_rights(Some("© Wire".into()));
    let world = Category::parse("world").unwrap();
    let rights: Vec<(String, Option<String>)> = catalog
        .list(&[world, Category::parse("china").unwrap()])
        .into_iter()
        .map(|d| (d.slug, d.rights))
        .collect();
    let wire = Some("© Wire".to_owned());
    assert_eq!(
        rights,
        [
            ("all".into(), wire.clone()),
            ("flash".into(), wire.clone()),
            ("china".into(), wire),
            ("world".into(), Some("© World desk".into())),
        ]
    );
}
