//! The store's change sequence as everyone else sees it: each write that changes what a reader
//! could see gets a number and a time ([`Change`]) and names the categories it touched
//! ([`ChangeRecord`]); a killed story leaves a [`Tombstone`], which feeds show as a
//! withdrawal notice ([`Withdrawal`]) under the story's own id.

use chrono::{DateTime, Utc};

use super::{Article, ArticleId, Category};

/// One entry of the change sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Position in the store's change sequence; larger is newer.
    pub seq: u64,
    /// When the change was committed.
    pub at: DateTime<Utc>,
}

/// What a change did to its story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A story the store did not have.
    Created,
    /// A new version of a story (a correction, or a story brought back after a kill).
    Updated,
    /// The story was killed.
    Killed,
    /// A story under embargo was held, moved or dropped: no public document changed, only
    /// the views of partners who see embargoed stories early. Never pushed, never shown on the
    /// public change cursor; its release is a [`ChangeKind::Created`].
    Held,
}

impl ChangeKind {
    /// The word the store keeps and the change cursor shows.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "create",
            ChangeKind::Updated => "update",
            ChangeKind::Killed => "kill",
            ChangeKind::Held => "hold",
        }
    }

    /// Whether readers of public documents can see what the change did.
    pub fn is_public(self) -> bool {
        self != ChangeKind::Held
    }

    pub fn parse(word: &str) -> Option<Self> {
        [
            ChangeKind::Created,
            ChangeKind::Updated,
            ChangeKind::Killed,
            ChangeKind::Held,
        ]
        .into_iter()
        .find(|k| k.as_str() == word)
    }
}

/// An entry of the change sequence: which story, what happened to it, and every category it
/// touched (before and after), for cache invalidation and the change cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    pub change: Change,
    pub article: ArticleId,
    pub kind: ChangeKind,
    pub categories: Vec<Category>,
    /// The most urgent level among the story's versions before and after the change (1–9, or
    /// [`UNRANKED`] when neither had one), or `None` when it is not known (a change recorded by
    /// a wirefeed that kept no urgency), which every flash feed counts as touching it.
    pub urgency: Option<u8>,
}

/// A change's urgency when no version of its story had one: less urgent than any level.
pub const UNRANKED: u8 = 10;

/// The urgency a change records: the most urgent of the story's versions it touched.
pub fn touched_urgency<'a>(versions: impl IntoIterator<Item = &'a Article>) -> u8 {
    versions
        .into_iter()
        .filter_map(|a| a.urgency)
        .min()
        .unwrap_or(UNRANKED)
}

/// A killed story as a feed remembers it: an RFC 6721 `at:deleted-entry` in Atom, and in every
/// format a withdrawal notice in the story's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub id: ArticleId,
    pub killed_at: DateTime<Utc>,
    /// The story as it was when it was killed (for its id, title, categories and dates; its
    /// text is never shown again).
    pub article: Article,
}

/// How a killed story is shown to readers that ignore tombstones (most of them): the same
/// entry, its title marked and its text replaced by the desk's notice, `updated` at the kill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    /// Put before the story's title, e.g. `WITHDRAWN: `.
    pub title_prefix: String,
    /// The text that replaces the story.
    pub notice: String,
}

impl Default for Withdrawal {
    fn default() -> Self {
        Self {
            title_prefix: "WITHDRAWN: ".to_owned(),
            notice: "This story has been withdrawn. Do not use or republish it.".to_owned(),
        }
    }
}

impl Withdrawal {
    /// The entry that stands in for a killed story: same id, link, categories and publication
    /// time; no text, images or summary of the story; updated at the kill.
    pub fn notice_for(&self, tombstone: &Tombstone) -> Article {
        let story = &tombstone.article;
        Article {
            id: story.id.clone(),
            title: format!("{}{}", self.title_prefix, story.title),
            summary: Some(self.notice.clone()),
            content_html: Some(format!("<p>{}</p>", escape_html(&self.notice))),
            byline: Vec::new(),
            source: story.source.clone(),
            dateline: None,
            language: story.language.clone(),
            categories: story.categories.clone(),
            published: story.published,
            updated: tombstone.killed_at.max(story.updated),
            url: story.url.clone(),
            images: Vec::new(),
            embargo: None,
            expires: None,
            // A kill of a flash is as urgent as the flash.
            urgency: story.urgency,
            rights: None,
            version: None,
        }
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}
