//! Input before validation: an [`ArticleDraft`] (the article JSON, loosely typed so that every
//! problem can be reported at once) and the rules that turn it into an [`Article`] or a list of
//! [`FieldError`]s, each naming the offending field with a JSON pointer. Text is normalised on
//! the way in: characters that XML 1.0 forbids are removed, so no feed can be broken by what a
//! publisher sends.

use std::fmt;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::article::*;
use super::sanitize;

/// One image as it arrives, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageDraft {
    pub url: Option<String>,
    #[serde(rename = "type")]
    pub media_type: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub caption: Option<String>,
    pub credit: Option<String>,
    /// Size in bytes.
    pub length: Option<u64>,
    pub thumbnail: Option<ThumbnailDraft>,
}

/// A picture's thumbnail as it arrives.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThumbnailDraft {
    pub url: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// How far ahead of the clock a story's dates may be: a day, for clocks and time zones set
/// wrong. A story that may not be read yet says so with `embargo`, which may lie further ahead.
pub const MAX_AHEAD: TimeDelta = TimeDelta::days(1);

/// A story's rights as they arrive.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RightsDraft {
    pub copyright: Option<String>,
    pub usage_terms: Option<String>,
    pub link: Option<String>,
}

/// An article as it arrives, before validation. Every field is optional here so that
/// validation can report all missing fields at once instead of the first one serde meets.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleDraft {
    pub id: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub content_html: Option<String>,
    #[serde(default)]
    pub byline: Vec<String>,
    pub source: Option<String>,
    pub dateline: Option<String>,
    pub language: Option<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    pub published: Option<String>,
    pub updated: Option<String>,
    pub url: Option<String>,
    #[serde(default)]
    pub images: Vec<ImageDraft>,
    /// RFC 3339: held until then.
    pub embargo: Option<String>,
    /// RFC 3339: withdrawn then (a time already past withdraws the story at once).
    pub expires: Option<String>,
    /// 1 (most urgent) to 9.
    pub urgency: Option<i64>,
    pub rights: Option<RightsDraft>,
    /// The desk's version number, counting up.
    pub version: Option<i64>,
}

/// One thing wrong with an article, located by a JSON pointer (RFC 6901) into the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

/// Collects field errors while a draft is checked.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            pointer: pointer.into(),
            message: message.into(),
        });
    }

    /// A required, non-empty piece of text, cleaned.
    fn required_text(&mut self, pointer: &str, raw: Option<&str>, max_chars: usize) -> String {
        match raw.map(clean_line) {
            None => {
                self.add(pointer, "is required");
                String::new()
            }
            Some(text) if text.is_empty() => {
                self.add(pointer, "must not be empty");
                text
            }
            Some(text) => {
                self.check_len(pointer, &text, max_chars);
                text
            }
        }
    }

    /// Optional text: absent or blank becomes `None`.
    fn optional_text(
        &mut self,
        pointer: &str,
        raw: Option<&str>,
        max_chars: usize,
    ) -> Option<String> {
        let text = raw.map(clean_line).filter(|t| !t.is_empty())?;
        self.check_len(pointer, &text, max_chars);
        Some(text)
    }

    fn check_len(&mut self, pointer: &str, text: &str, max_chars: usize) {
        if text.chars().count() > max_chars {
            self.add(pointer, format!("must be at most {max_chars} characters"));
        }
    }

    /// An RFC 3339 date-time in UTC: not a leap second, not before 1970 and not more than
    /// [`MAX_AHEAD`] after `now`.
    fn time(&mut self, pointer: &str, raw: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.time_until(pointer, raw, Some(now))
    }

    /// An RFC 3339 date-time in UTC as [`Problems::time`] takes it, but as far ahead as the
    /// store can keep when `now` is `None` (an embargo or expiry).
    fn time_until(
        &mut self,
        pointer: &str,
        raw: &str,
        now: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let raw = raw.trim();
        // RFC 3339 years have four digits; `+10000-01-01` or `10000-01-01` is not one.
        let year = raw.strip_prefix('+').unwrap_or(raw).split('-').next();
        if year.is_some_and(|y| y.len() > 4 && y.bytes().all(|b| b.is_ascii_digit())) {
            self.add(
                pointer,
                format!("{raw:?} has a year after 9999: RFC 3339 years have four digits"),
            );
            return None;
        }
        match DateTime::parse_from_rfc3339(raw) {
            Ok(t) => {
                let t = t.with_timezone(&Utc);
                // chrono keeps a leap second as the 59th second plus a second's nanoseconds.
                if t.nanosecond() >= 1_000_000_000 {
                    self.add(
                        pointer,
                        format!("{raw:?} is a leap second (:60), which feeds and the store cannot carry: send :59 or the next minute's :00"),
                    );
                    None
                // Timestamps are stored as nanoseconds since 1970 in an i64.
                } else if t.timestamp() < 0 || t.timestamp_nanos_opt().is_none() {
                    self.add(pointer, "must lie between 1970 and 2262");
                    None
                } else if let Some(now) = now.filter(|now| t > *now + MAX_AHEAD) {
                    let now = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    self.add(
                        pointer,
                        format!("{raw:?} is more than a day in the future (it is now {now}): to hold a story until a time, send that time as its embargo"),
                    );
                    None
                } else {
                    Some(t)
                }
            }
            Err(e) => {
                self.add(
                    pointer,
                    format!("{raw:?} is not an RFC 3339 date-time such as \"2026-11-25T08:30:00Z\" ({e})"),
                );
                None
            }
        }
    }

    fn web_url(&mut self, pointer: &str, raw: &str) -> Option<String> {
        let url = raw.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host_ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'));
        let chars_ok = url
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'\\' | b'`'));
        if host_ok && chars_ok && url.len() <= 2048 {
            Some(url.to_owned())
        } else {
            self.add(
                pointer,
                "must be an absolute http:// or https:// URL of at most 2048 characters, with no spaces or quotes",
            );
            None
        }
    }
}

impl ArticleDraft {
    /// Checks every field and returns the article, or every problem found, by the clock.
    pub fn validate(self) -> Result<Article, Vec<FieldError>> {
        self.validate_at(Utc::now())
    }

    /// Checks every field as of `now` (which bounds how far ahead a date may be).
    pub fn validate_at(self, now: DateTime<Utc>) -> Result<Article, Vec<FieldError>> {
        let mut p = Problems::default();

        let id = match self.id.as_deref() {
            None => {
                p.add("/id", "is required");
                None
            }
            Some(raw) => ArticleId::parse(raw).map_err(|m| p.add("/id", m)).ok(),
        };
        let title = p.required_text("/title", self.title.as_deref(), MAX_TITLE_CHARS);
        let summary = p.optional_text("/summary", self.summary.as_deref(), MAX_SUMMARY_CHARS);
        let content_html = self
            .content_html
            .as_deref()
            .map(|html| sanitize::story_html(&clean_block(html)))
            .filter(|html| !html.trim().is_empty());
        if content_html
            .as_ref()
            .is_some_and(|h| h.len() > MAX_CONTENT_BYTES)
        {
            p.add(
                "/content_html",
                format!("must be at most {MAX_CONTENT_BYTES} bytes"),
            );
        }
        if summary.is_none() && content_html.is_none() {
            p.add(
                "/content_html",
                "a story needs a summary, a content_html body, or both",
            );
        }

        let mut byline = Vec::with_capacity(self.byline.len());
        for (i, name) in self.byline.iter().enumerate() {
            let pointer = format!("/byline/{i}");
            byline.push(p.required_text(&pointer, Some(name), 200));
        }
        let source = p.optional_text("/source", self.source.as_deref(), 200);
        let dateline = p.optional_text("/dateline", self.dateline.as_deref(), 200);

        let language = self
            .language
            .as_deref()
            .map(str::trim)
            .unwrap_or("en")
            .to_owned();
        if !is_language_tag(&language) {
            p.add(
                "/language",
                format!("{language:?} is not a language tag such as \"en\" or \"zh-Hans\""),
            );
        }

        let mut categories: Vec<Category> = Vec::with_capacity(self.categories.len());
        if self.categories.is_empty() {
            p.add(
                "/categories",
                "a story must be filed in at least one category",
            );
        }
        if self.categories.len() > MAX_CATEGORIES {
            p.add(
                "/categories",
                format!("at most {MAX_CATEGORIES} categories"),
            );
        }
        for (i, raw) in self.categories.iter().enumerate() {
            match Category::parse(raw.trim()) {
                Ok(c) if !categories.contains(&c) => categories.push(c),
                Ok(_) => {}
                Err(m) => p.add(format!("/categories/{i}"), m),
            }
        }

        let published = match self.published.as_deref() {
            None => {
                p.add("/published", "is required");
                None
            }
            Some(raw) => p.time("/published", raw, now),
        };
        let updated = match self.updated.as_deref() {
            None => published,
            Some(raw) => p.time("/updated", raw, now),
        };
        if let (Some(published), Some(updated)) = (published, updated) {
            if updated < published {
                p.add("/updated", "must not be earlier than published");
            }
        }
        let url = self.url.as_deref().and_then(|raw| p.web_url("/url", raw));

        if self.images.len() > MAX_IMAGES {
            p.add("/images", format!("at most {MAX_IMAGES} images"));
        }
        let mut images = Vec::with_capacity(self.images.len());
        for (i, draft) in self.images.into_iter().enumerate() {
            if let Some(image) = draft.validate(&mut p, i) {
                images.push(image);
            }
        }

        let embargo = self
            .embargo
            .as_deref()
            .and_then(|raw| p.time_until("/embargo", raw, None))
            // An embargo already lifted holds nothing.
            .filter(|until| *until > now);
        let expires = self
            .expires
            .as_deref()
            .and_then(|raw| p.time_until("/expires", raw, None));
        let urgency = self.urgency.and_then(|level| {
            let level = u8::try_from(level)
                .ok()
                .filter(|l| (1..=LEAST_URGENT).contains(l));
            if level.is_none() {
                p.add(
                    "/urgency",
                    format!("must be a whole number from 1 (most urgent) to {LEAST_URGENT}"),
                );
            }
            level
        });
        let rights = self.rights.and_then(|draft| draft.validate(&mut p));
        let version = self.version.and_then(|v| {
            let v = u64::try_from(v).ok();
            if v.is_none() {
                p.add("/version", "must be a whole number, 0 or more");
            }
            v
        });

        match (id, published, updated) {
            (Some(id), Some(published), Some(updated)) if p.0.is_empty() => Ok(Article {
                id,
                title,
                summary,
                content_html,
                byline,
                source,
                dateline,
                language,
                categories,
                published,
                updated,
                url,
                images,
                embargo,
                expires,
                urgency,
                rights,
                version,
            }),
            _ => Err(p.0),
        }
    }
}

impl RightsDraft {
    /// The rights, or `None` when every part is blank.
    fn validate(self, p: &mut Problems) -> Option<Rights> {
        let copyright = p.optional_text("/rights/copyright", self.copyright.as_deref(), 1_000);
        let usage_terms =
            p.optional_text("/rights/usage_terms", self.usage_terms.as_deref(), 5_000);
        let link = self
            .link
            .as_deref()
            .filter(|raw| !raw.trim().is_empty())
            .and_then(|raw| p.web_url("/rights/link", raw));
        (copyright.is_some() || usage_terms.is_some() || link.is_some()).then_some(Rights {
            copyright,
            usage_terms,
            link,
        })
    }
}

impl ImageDraft {
    fn validate(self, p: &mut Problems, index: usize) -> Option<Image> {
        let at = |field: &str| format!("/images/{index}/{field}");
        let url = match self.url.as_deref() {
            None => {
                p.add(at("url"), "is required");
                None
            }
            Some(raw) => p.web_url(&at("url"), raw),
        };
        let media_type = self
            .media_type
            .as_deref()
            .map(str::trim)
            .unwrap_or("image/jpeg");
        let type_ok = media_type.strip_prefix("image/").is_some_and(|sub| {
            !sub.is_empty()
                && sub
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
        });
        if !type_ok {
            p.add(
                at("type"),
                format!("{media_type:?} is not an image media type such as \"image/jpeg\""),
            );
        }
        for (field, value) in [("width", self.width), ("height", self.height)] {
            if value == Some(0) {
                p.add(at(field), "must be a positive number of pixels");
            }
        }
        let caption = p.optional_text(&at("caption"), self.caption.as_deref(), 1_000);
        let credit = p.optional_text(&at("credit"), self.credit.as_deref(), 200);
        if self.length == Some(0) {
            p.add(
                at("length"),
                "must be a positive number of bytes (leave it out when unknown)",
            );
        }
        let thumbnail = match self.thumbnail {
            None => Some(None),
            Some(thumbnail) => {
                let at = |field: &str| format!("/images/{index}/thumbnail/{field}");
                let url = match thumbnail.url.as_deref() {
                    None => {
                        p.add(at("url"), "is required");
                        None
                    }
                    Some(raw) => p.web_url(&at("url"), raw),
                };
                for (field, value) in [("width", thumbnail.width), ("height", thumbnail.height)] {
                    if value == Some(0) {
                        p.add(at(field), "must be a positive number of pixels");
                    }
                }
                url.map(|url| {
                    Some(Thumbnail {
                        url,
                        width: thumbnail.width,
                        height: thumbnail.height,
                    })
                })
            }
        };
        Some(Image {
            url: url?,
            media_type: media_type.to_owned(),
            width: self.width,
            height: self.height,
            caption,
            credit,
            length: self.length,
            thumbnail: thumbnail?,
        })
        .filter(|_| type_ok)
    }
}

/// True for characters that XML 1.0 allows in a document (section 2.2, `Char`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Text for one line (titles, names): XML-forbidden characters removed, runs of whitespace
/// (including line breaks) collapsed to one space, ends trimmed.
pub fn clean_line(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for word in raw
        .split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().filter(|&c| is_xml_char(c)));
    }
    out
}

/// Text for a block (HTML bodies): XML-forbidden characters removed, everything else kept.
pub fn clean_block(raw: &str) -> String {
    raw.chars().filter(|&c| is_xml_char(c)).collect()
}

fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    primary_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests;
