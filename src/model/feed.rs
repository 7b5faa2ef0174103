//! The words for feeds that every layer shares: which stories a feed gathers ([`Selection`]),
//! how it is defined ([`FeedDef`]), in which format ([`FeedFormat`]) and which of its documents
//! ([`Part`]) and for whom ([`View`]: the public, or a partner's entitlement) — together a
//! [`FeedKey`], the name of one cached document.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use smol_str::SmolStr;

use super::{Category, ChangeRecord};

/// Which stories a query covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selection {
    /// Every category: the wire as a whole.
    All,
    /// Stories filed in any of these categories.
    Categories(Vec<Category>),
    /// Stories of every category whose urgency is this level or more urgent (1 is the most
    /// urgent): the flash feed.
    Urgent(u8),
}

impl Selection {
    /// Whether a story filed in `category` may be selected (for urgency, any may).
    pub fn covers(&self, category: &Category) -> bool {
        match self {
            Selection::All | Selection::Urgent(_) => true,
            Selection::Categories(list) => list.contains(category),
        }
    }

    /// Whether a change may have changed what the selection holds: for categories, any
    /// category it touched is covered; for urgency, a version it touched was urgent enough
    /// (or its urgency is not known).
    pub fn touched_by(&self, record: &ChangeRecord) -> bool {
        match self {
            Selection::Urgent(level) => record.urgency.is_none_or(|u| u <= *level),
            _ => record.categories.iter().any(|c| self.covers(c)),
        }
    }
}

/// Where a feed is, and in which format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedFormat {
    Rss,
    Atom,
    Json,
}

impl FeedFormat {
    pub const ALL: [FeedFormat; 3] = [FeedFormat::Rss, FeedFormat::Atom, FeedFormat::Json];

    /// The file extension in feed URLs.
    pub fn extension(self) -> &'static str {
        match self {
            FeedFormat::Rss => "rss",
            FeedFormat::Atom => "atom",
            FeedFormat::Json => "json",
        }
    }

    /// The format whose [`FeedFormat::extension`] `ext` is.
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "rss" => Some(FeedFormat::Rss),
            "atom" => Some(FeedFormat::Atom),
            "json" => Some(FeedFormat::Json),
            _ => None,
        }
    }

    /// The registered media type, as used in `Content-Type` and in autodiscovery links.
    pub fn media_type(self) -> &'static str {
        match self {
            FeedFormat::Rss => "application/rss+xml",
            FeedFormat::Atom => "application/atom+xml",
            FeedFormat::Json => "application/feed+json",
        }
    }

    /// A name people recognise.
    pub fn label(self) -> &'static str {
        match self {
            FeedFormat::Rss => "RSS",
            FeedFormat::Atom => "Atom",
            FeedFormat::Json => "JSON Feed",
        }
    }
}

/// The slug of the feed of every category together.
pub const ALL_SLUG: &str = "all";
/// The slug of the built-in feed of the most urgent stories.
pub const FLASH_SLUG: &str = "flash";
/// The urgency level the flash feed takes when the configuration doesn't say.
pub const DEFAULT_FLASH_URGENCY: u8 = 2;
/// Seconds a client may reuse the flash feed, when the configuration doesn't say.
pub const DEFAULT_FLASH_MAX_AGE: u32 = 30;
/// Entries in a feed without a definition.
pub const DEFAULT_ENTRIES: usize = 50;
/// Seconds a client may reuse a feed without asking again, when the definition doesn't say.
pub const DEFAULT_MAX_AGE: u32 = 300;
/// Seconds a cache may serve a stale feed while it revalidates, when the definition doesn't say.
pub const DEFAULT_STALE_WHILE_REVALIDATE: u32 = 600;
/// The most entries a definition may ask for.
pub const MAX_ENTRIES: usize = 500;

/// One feed, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedDef {
    /// The name in the URL: `/feeds/{slug}.rss`.
    pub slug: String,
    pub title: String,
    pub description: String,
    pub selection: Selection,
    /// How many of the newest stories the feed shows.
    pub entries: usize,
    /// `Cache-Control: max-age`, and RSS `<ttl>` in minutes.
    pub max_age: u32,
    pub stale_while_revalidate: u32,
    /// The feed's language (RSS `<language>`, Atom `xml:lang`), when all its stories share one.
    pub language: Option<String>,
    /// When the definition file was last changed, which counts as a change to the feed for
    /// `Last-Modified`. `None` for defaults.
    pub defined_at: Option<DateTime<Utc>>,
    /// The feed's rights statement (RSS `<copyright>`, Atom `<rights>`), for stories that
    /// carry none of their own.
    pub rights: Option<String>,
    /// Who may read the feed: everyone, or partners only (`access = "partners"`).
    pub access: Access,
}

/// Who may read a feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a key.
    #[default]
    Public,
    /// Partners only: its categories are left out of every public document and listing.
    Partners,
}

impl FeedDef {
    /// The feed a category gets when `feeds/` has no file for it.
    pub fn default_for(category: &Category, site_title: &str) -> Self {
        let label = category.label();
        Self {
            slug: category.as_str().to_owned(),
            title: format!("{label} — {site_title}"),
            description: format!("The latest {label} stories off the {site_title} wire."),
            selection: Selection::Categories(vec![category.clone()]),
            entries: DEFAULT_ENTRIES,
            max_age: DEFAULT_MAX_AGE,
            stale_while_revalidate: DEFAULT_STALE_WHILE_REVALIDATE,
            language: None,
            defined_at: None,
            rights: None,
            access: Access::Public,
        }
    }

    /// The whole wire, when `feeds/all.toml` doesn't exist.
    pub fn default_all(site_title: &str) -> Self {
        Self {
            slug: ALL_SLUG.to_owned(),
            title: format!("Off the wire — {site_title}"),
            description: format!("Every story off the {site_title} wire, newest first."),
            selection: Selection::All,
            entries: DEFAULT_ENTRIES,
            max_age: DEFAULT_MAX_AGE,
            stale_while_revalidate: DEFAULT_STALE_WHILE_REVALIDATE,
            language: None,
            defined_at: None,
            rights: None,
            access: Access::Public,
        }
    }

    /// The built-in flash feed: every category's stories at `urgency` or more urgent, polled
    /// often (`max_age` seconds), when `feeds/flash.toml` doesn't shape it otherwise.
    pub fn default_flash(site_title: &str, urgency: u8, max_age: u32) -> Self {
        Self {
            slug: FLASH_SLUG.to_owned(),
            title: format!("Flash — {site_title}"),
            description: format!(
                "The most urgent stories off the {site_title} wire (urgency 1 to {urgency})."
            ),
            selection: Selection::Urgent(urgency),
            entries: DEFAULT_ENTRIES,
            max_age,
            stale_while_revalidate: max_age,
            language: None,
            defined_at: None,
            rights: None,
            access: Access::Public,
        }
    }

    /// RSS `<ttl>`: `max_age` in whole minutes, rounded up so a reader never polls sooner than
    /// `Cache-Control` allows.
    pub fn ttl_minutes(&self) -> u32 {
        self.max_age.div_ceil(60).max(1)
    }
}

/// Which document of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The subscription document.
    Current,
    /// A page after the first (`?page=N`, N ≥ 2).
    Page(u32),
    /// One UTC day's archive.
    Archive(NaiveDate),
}

/// The instants one UTC day spans, from its midnight to the next (exclusive), when both can be
/// kept as the stores keep times — nanoseconds since 1970 in an i64, so from 1677 to 2262 —
/// and `None` for any other day: a day the store cannot ask about has no archive.
pub fn day_span(day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = day.and_hms_opt(0, 0, 0)?.and_utc();
    let end = day.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc();
    start.timestamp_nanos_opt()?;
    end.timestamp_nanos_opt()?;
    Some((start, end))
}

/// How much of a story a partner may have: the whole story, or its headline only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Title, summary and link: no text, no images.
    Headlines,
    /// Everything: text and images too.
    Full,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Headlines => "headlines",
            Level::Full => "full",
        }
    }
}

/// What a partner may read of one feed, in canonical form: its entitlement restricted to the
/// feed's selection. Two partners with the same entitlement to a feed have equal values, so
/// they share one cached document whatever their keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Entitlement {
    /// The categories the view selects stories from, each with its level.
    pub levels: BTreeMap<Category, Level>,
    /// The level of every other category, when the partner has a `"*"` entry and the feed
    /// selects every category.
    pub others: Option<Level>,
    /// Categories the view does not select in which the partner has full stories: a
    /// headlines story also filed in one of them is full. Kept only while some selected
    /// category is headlines (otherwise nothing can be raised), so equal views stay equal.
    pub full_elsewhere: std::collections::BTreeSet<Category>,
    /// Whether every category not named is full for the partner (`"*" = "full"`), likewise.
    pub others_full: bool,
    /// Whether the partner sees embargoed stories before their lift (carried so that early and
    /// ordinary views are cached apart).
    pub embargo_early: bool,
}

impl Entitlement {
    /// The level at which a story filed in `categories` is shown: the highest of its
    /// categories' levels (a story in a full and a headlines category is full), or `None`
    /// when the view selects none of them.
    pub fn level_of(&self, categories: &[Category]) -> Option<Level> {
        let selected = |c: &Category| self.levels.get(c).copied().or(self.others);
        categories.iter().filter_map(selected).max()?;
        categories
            .iter()
            .filter_map(|c| {
                selected(c).or_else(|| {
                    (self.others_full || self.full_elsewhere.contains(c)).then_some(Level::Full)
                })
            })
            .max()
    }

    /// Whether the view shows nothing at all.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty() && self.others.is_none()
    }

    /// The stories the view covers, for store queries.
    pub fn selection(&self) -> Selection {
        match self.others {
            Some(_) => Selection::All,
            None => Selection::Categories(self.levels.keys().cloned().collect()),
        }
    }
}

/// For whom a document is rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum View {
    /// Anyone without a key: partner-only categories left out.
    #[default]
    Public,
    /// A partner's entitlement to the feed (see [`Entitlement`]).
    Partner(Arc<Entitlement>),
}

/// A variant of a subscription document that readers ask for in the query: fewer entries
/// (`?limit=N`) and headlines only (`?content=headlines`). The default is the feed as defined.
/// Every variant is cached and validated like the feed itself; there are at most
/// `entries × 2` of them per feed, format and view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Trim {
    /// At most this many stories; always fewer than the feed's `entries` (more is no trim).
    pub limit: Option<u16>,
    /// Title, summary and link only: no text, no images.
    pub headlines: bool,
}

impl Trim {
    /// The query string that asks for this variant (`limit=5&content=headlines`), empty for
    /// the feed itself.
    pub fn query(&self) -> String {
        let limit = self.limit.map(|n| format!("limit={n}"));
        let content = self.headlines.then(|| "content=headlines".to_owned());
        limit
            .into_iter()
            .chain(content)
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Which cached document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedKey {
    /// Held inline (a slug is short): a poll's key is made without allocating.
    pub slug: SmolStr,
    pub format: FeedFormat,
    pub part: Part,
    pub view: View,
    pub trim: Trim,
}

/// Every poll hashes its key (in the thread's memo of versions and in the audience counts):
/// the slug, then the small fields packed into one word, each in bits of its own, so that
/// keys that differ in them differ in the word.
impl std::hash::Hash for FeedKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        use chrono::Datelike;
        self.slug.as_str().hash(state);
        let part = match self.part {
            Part::Current => 0,
            Part::Page(n) => 1 | u64::from(n) << 2,
            // Days from the common era's start fit in 32 bits (chrono's dates span ±262,000
            // years).
            Part::Archive(day) => 2 | u64::from(day.num_days_from_ce() as u32) << 2,
        };
        let trim =
            self.trim.limit.map_or(0, |n| u64::from(n) + 1) << 1 | u64::from(self.trim.headlines);
        let view = match self.view {
            View::Public => 0,
            View::Partner(_) => 1,
        };
        state.write_u64(part | trim << 34 | (self.format as u64) << 52 | view << 54);
        if let View::Partner(entitlement) = &self.view {
            entitlement.hash(state);
        }
    }
}

impl FeedKey {
    /// A feed's public subscription document.
    pub fn current(slug: impl Into<SmolStr>, format: FeedFormat) -> Self {
        Self {
            slug: slug.into(),
            format,
            part: Part::Current,
            view: View::Public,
            trim: Trim::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ArticleId, Change, ChangeKind, UNRANKED};

    #[test]
    fn a_format_is_named_by_its_extension_alone() {
        for format in FeedFormat::ALL {
            assert_eq!(FeedFormat::from_extension(format.extension()), Some(format));
        }
        for other in ["RSS", "xml", "rs", "rsss", ""] {
            assert_eq!(FeedFormat::from_extension(other), None, "{other:?}");
        }
    }

    #[test]
    fn keys_that_differ_in_any_field_hash_apart_and_equal_keys_alike() {
        use std::hash::BuildHasher;
        let hasher = std::hash::RandomState::new();
        let world = FeedKey::current("world", FeedFormat::Rss);
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let early = Entitlement {
            embargo_early: true,
            ..Entitlement::default()
        };
        let with = |part: Part, trim: Trim, view: View| FeedKey {
            part,
            trim,
            view,
            ..world.clone()
        };
        let trim = |limit: Option<u16>, headlines: bool| Trim { limit, headlines };
        let (plain, public) = (Trim::default(), View::Public);
        let partner = |e: &Entitlement| View::Partner(Arc::new(e.clone()));
        let variants = [
            world.clone(),
            FeedKey::current("g20", FeedFormat::Rss),
            FeedKey::current("world", FeedFormat::Atom),
            FeedKey::current("world", FeedFormat::Json),
            with(Part::Page(2), plain, public.clone()),
            with(Part::Page(3), plain, public.clone()),
            with(Part::Archive(day), plain, public.clone()),
            with(
                Part::Archive(day.succ_opt().unwrap()),
                plain,
                public.clone(),
            ),
            with(Part::Current, trim(Some(5), false), public.clone()),
            with(Part::Current, trim(Some(0), false), public.clone()),
            with(Part::Current, trim(None, true), public.clone()),
            with(Part::Current, trim(Some(5), true), public.clone()),
            // Each field at its widest, so that no field's bits reach another's.
            with(Part::Page(u32::MAX), plain, public.clone()),
            with(Part::Archive(NaiveDate::MIN), plain, public.clone()),
            with(Part::Archive(NaiveDate::MAX), plain, public.clone()),
            with(Part::Current, trim(Some(u16::MAX), true), public.clone()),
            with(Part::Current, trim(Some(u16::MAX), false), public.clone()),
            with(Part::Current, plain, partner(&Entitlement::default())),
            with(Part::Current, plain, partner(&early)),
            with(
                Part::Page(u32::MAX),
                trim(Some(u16::MAX), true),
                partner(&early),
            ),
        ];
        let hashes: std::collections::HashSet<u64> =
            variants.iter().map(|key| hasher.hash_one(key)).collect();
        assert_eq!(hashes.len(), variants.len());
        // Equal keys, however made, hash alike: a partner's view is hashed by its value.
        let made_apart = [
            (
                world.clone(),
                FeedKey::current(String::from("world"), FeedFormat::Rss),
            ),
            (
                with(Part::Current, plain, partner(&early)),
                with(Part::Current, plain, partner(&early)),
            ),
        ];
        for (a, b) in made_apart {
            assert_eq!(a, b);
            assert_eq!(hasher.hash_one(&a), hasher.hash_one(&b));
        }
    }

    fn record(urgency: Option<u8>) -> ChangeRecord {
        ChangeRecord {
            change: Change {
                seq: 1,
                at: DateTime::UNIX_EPOCH,
            },
            article: ArticleId::parse("a").unwrap(),
            kind: ChangeKind::Updated,
            categories: vec![Category::parse("world").unwrap()],
            urgency,
        }
    }

    #[test]
    fn the_flash_selection_is_touched_by_urgent_or_unknown_changes_only() {
        let flash = Selection::Urgent(2);
        assert!(flash.touched_by(&record(Some(1))));
        assert!(flash.touched_by(&record(Some(2))));
        assert!(!flash.touched_by(&record(Some(3))));
        assert!(!flash.touched_by(&record(Some(UNRANKED))));
        assert!(flash.touched_by(&record(None)), "unknown urgency");
        let sports = Selection::Categories(vec![Category::parse("sports").unwrap()]);
        assert!(!sports.touched_by(&record(Some(1))));
        assert!(Selection::All.touched_by(&record(Some(UNRANKED))));
    }

    #[test]
    fn a_day_spans_its_midnights_only_where_the_store_can_keep_both() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let (start, end) = day_span(day(2026, 11, 24)).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-11-24T00:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-11-25T00:00:00+00:00");
        assert!(day_span(day(1677, 9, 22)).is_some());
        assert!(day_span(day(2262, 4, 10)).is_some());
        // Each of these has a midnight outside i64 nanoseconds.
        for (y, m, d) in [
            (1, 1, 1),
            (1677, 9, 21),
            (2262, 4, 11),
            (2262, 4, 12),
            (9999, 12, 31),
        ] {
            assert_eq!(day_span(day(y, m, d)), None, "{y}-{m}-{d}");
        }
        assert_eq!(day_span(NaiveDate::MAX), None);
    }

    fn c(slug: &str) -> Category {
        Category::parse(slug).unwrap()
    }

    #[test]
    fn a_story_takes_the_highest_level_of_its_categories() {
        let view = Entitlement {
            levels: BTreeMap::from([(c("world"), Level::Full), (c("markets"), Level::Headlines)]),
            ..Entitlement::default()
        };
        assert_eq!(view.level_of(&[c("markets")]), Some(Level::Headlines));
        assert_eq!(
            view.level_of(&[c("markets"), c("world")]),
            Some(Level::Full)
        );
        assert_eq!(view.level_of(&[c("sport")]), None);
        let wide = Entitlement {
            others: Some(Level::Headlines),
            ..view.clone()
        };
        assert_eq!(wide.level_of(&[c("sport")]), Some(Level::Headlines));
        assert_eq!(wide.selection(), Selection::All);
        assert_eq!(
            view.selection(),
            Selection::Categories(vec![c("markets"), c("world")])
        );
        // A headlines story also filed where the partner has full stories is full.
        let g20 = Entitlement {
            levels: BTreeMap::from([(c("g20"), Level::Headlines)]),
            full_elsewhere: [c("world")].into(),
            ..Entitlement::default()
        };
        assert_eq!(g20.level_of(&[c("g20"), c("world")]), Some(Level::Full));
        assert_eq!(
            g20.level_of(&[c("g20"), c("sport")]),
            Some(Level::Headlines)
        );
        assert_eq!(
            g20.level_of(&[c("world")]),
            None,
            "not selected by the view"
        );
    }
}
