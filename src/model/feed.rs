//! The words for feeds that every layer shares: which stories a feed gathers ([`Selection`]),
//! how it is defined ([`FeedDef`]), in which format ([`FeedFormat`]) and which of its documents
//! ([`Part`]) — together a [`FeedKey`], the name of one cached document.

use chrono::{DateTime, NaiveDate, Utc};

use super::Category;

/// Which categories a query covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every category: the wire as a whole.
    All,
    /// Stories filed in any of these categories.
    Categories(Vec<Category>),
}

impl Selection {
    pub fn covers(&self, category: &Category) -> bool {
        match self {
            Selection::All => true,
            Selection::Categories(list) => list.contains(category),
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

    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.extension() == ext)
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

/// Which cached document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedKey {
    pub slug: String,
    pub format: FeedFormat,
    pub part: Part,
}

impl FeedKey {
    /// A feed's subscription document.
    pub fn current(slug: impl Into<String>, format: FeedFormat) -> Self {
        Self {
            slug: slug.into(),
            format,
            part: Part::Current,
        }
    }
}
