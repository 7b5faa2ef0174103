//! What a wire story is: its id, categories, images and text, as accepted. An [`Article`] is
//! only ever made by validating a draft (see `draft`), so holding one means its rules hold.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use super::{ArticleDraft, FieldError};

/// Longest accepted article id, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Longest accepted title, in characters.
pub const MAX_TITLE_CHARS: usize = 500;
/// Longest accepted summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 5_000;
/// Longest accepted HTML body, in bytes.
pub const MAX_CONTENT_BYTES: usize = 512 * 1024;
/// Most categories one story may be filed in.
pub const MAX_CATEGORIES: usize = 16;
/// Most images one story may carry.
pub const MAX_IMAGES: usize = 32;
/// The least urgent level (ninjs and IPTC: 1 is the most urgent, 9 the least).
pub const LEAST_URGENT: u8 = 9;

/// A stable article id chosen by the wire desk: ASCII letters, digits, `.`, `_` and `-`,
/// starting with a letter or digit. It appears in URLs and in tag: URIs, so it is never escaped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArticleId(String);

impl TryFrom<String> for ArticleId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl From<ArticleId> for String {
    fn from(id: ArticleId) -> String {
        id.0
    }
}

impl ArticleId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.len() > MAX_ID_LEN {
            return Err(format!("must be at most {MAX_ID_LEN} characters"));
        }
        let first_ok = raw.as_bytes()[0].is_ascii_alphanumeric();
        let rest_ok = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !first_ok || !rest_ok {
            return Err(
                "may contain only ASCII letters, digits, '.', '_' and '-', and must start with a letter or digit"
                    .into(),
            );
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArticleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A category slug: lower-case ASCII letters and digits in dash-separated words (`g20`,
/// `asia-pacific`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Category(SmolStr);

impl TryFrom<String> for Category {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl From<Category> for String {
    fn from(category: Category) -> String {
        category.0.into()
    }
}

/// Whether `bytes` are dash-separated words of lower-case letters and digits, in one pass
/// (every feed poll's path is checked so).
fn is_slug(bytes: &[u8]) -> bool {
    // The start counts as a dash: a leading dash, two in a row and a trailing one (or
    // nothing at all) leave an empty word.
    let mut after_dash = true;
    for &b in bytes {
        if b == b'-' {
            if after_dash {
                return false;
            }
            after_dash = true;
        } else if b.is_ascii_lowercase() || b.is_ascii_digit() {
            after_dash = false;
        } else {
            return false;
        }
    }
    !after_dash
}

impl Category {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() <= 64 && is_slug(raw.as_bytes()) {
            Ok(Self(SmolStr::new(raw)))
        } else {
            Err(format!(
                "{raw:?} is not a category slug: use lower-case letters and digits in dash-separated words, e.g. \"asia-pacific\""
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A human label for a slug: `asia-pacific` becomes `Asia Pacific`, `g20` becomes `G20`.
    pub fn label(&self) -> String {
        self.0
            .split('-')
            .map(|word| {
                let mut chars = word.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A picture that goes with a story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub url: String,
    #[serde(rename = "type")]
    pub media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit: Option<String>,
    /// The picture's size in bytes, when the desk knows it (RSS `enclosure` `length`, Atom
    /// `link` `length`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// A small version of the picture for lists (Media RSS `media:thumbnail`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<Thumbnail>,
}

/// A small version of a picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// What a republisher may do with a story: the copyright notice, the terms of use, and a link
/// to the full rights statement (ninjs `copyrightnotice`, `usageterms`, `rightsinfo`). At least
/// one is present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rights {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copyright: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_terms: Option<String>,
    /// An http(s) URL of the rights statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// A validated wire story. Serialises to the article JSON (docs/ARCHITECTURE.md), which is also how the
/// store keeps it, so a story read back is exactly the story that was accepted. Deserialising
/// an `Article` directly trusts the text (the store's own copy); input from outside goes
/// through [`Article::from_json`] or [`ArticleDraft::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    pub id: ArticleId,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_html: Option<String>,
    pub byline: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dateline: Option<String>,
    pub language: String,
    pub categories: Vec<Category>,
    pub published: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub images: Vec<Image>,
    /// Held until this time: a stored or served story with an embargo is one still held (the
    /// release clears it). An embargo already past when the story is accepted is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embargo: Option<DateTime<Utc>>,
    /// When the story is to be withdrawn (killed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
    /// 1 (most urgent, a flash) to [`LEAST_URGENT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rights: Option<Rights>,
    /// The desk's version number (ninjs `version`): a lower one than the stored story's is
    /// refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

impl Article {
    /// Parses and validates one article from its JSON text.
    pub fn from_json(text: &str) -> Result<Self, Vec<FieldError>> {
        let draft: ArticleDraft = serde_json::from_str(text).map_err(|e| {
            vec![FieldError {
                pointer: String::new(),
                message: e.to_string(),
            }]
        })?;
        draft.validate()
    }

    /// Reads back a story this crate wrote with [`Article::to_json`], without validating again.
    pub fn from_stored_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an Article always serialises")
    }

    /// Whether the story belongs in a flash feed of stories at `level` or more urgent.
    pub fn is_urgent(&self, level: u8) -> bool {
        self.urgency.is_some_and(|u| u <= level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_is_dash_separated_words_of_lower_case_letters_and_digits() {
        // What the one-pass check must agree with: split at dashes, no word empty.
        let by_words = |raw: &str| {
            raw.split('-').all(|word| {
                !word.is_empty()
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
        };
        for raw in [
            "world",
            "g20",
            "asia-pacific",
            "a-b-c",
            "2026",
            "",
            "-",
            "--",
            "-world",
            "world-",
            "asia--pacific",
            "World",
            "asia pacific",
            "asia_pacific",
            "wörld",
            "a.b",
            "a/b",
        ] {
            assert_eq!(is_slug(raw.as_bytes()), by_words(raw), "{raw:?}");
        }
        assert!(Category::parse(&"a".repeat(64)).is_ok());
        assert!(Category::parse(&"a".repeat(65)).is_err());
    }
}
