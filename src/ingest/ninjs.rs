//! IPTC ninjs input: maps a ninjs 2.x document (the news industry's JSON format) onto an
//! [`ArticleDraft`], so that it goes through exactly the same validation as wirefeed's own
//! article JSON. Errors are reported with JSON pointers into the ninjs document the publisher
//! sent (`/headlines/0/value`, not wirefeed's `/title`).
//!
//! The 2.x field names are read first (`headlines`, `bodies`, `descriptions`, `subjects`, `by`,
//! `associations` as an array, `renditions` as an array); the 1.x spellings many desks still
//! send (`headline`, `body_html`, `description_text`, `subject`, `byline`, keyed `associations`
//! and `renditions`) are accepted where 2.x has no value.
//!
//! | ninjs                                   | wirefeed        |
//! |-----------------------------------------|-----------------|
//! | `uri` (letters other than `A-Za-z0-9._-` become `-`) | `id` (a PUT's URL id wins) |
//! | `headlines[role=main]` / `headline`     | `title`         |
//! | `descriptions[text/plain]` / `description_text` | `summary` |
//! | `bodies[text/html]` / `body_html` (else plain text as paragraphs) | `content_html` |
//! | `by` / `byline`                         | `byline`        |
//! | `copyrightholder`                       | `source`        |
//! | `located`                               | `dateline`      |
//! | `language`                              | `language`      |
//! | `subjects[].literal` or `.name` as a slug / `subject[]` | `categories` |
//! | `firstcreated`, `versioncreated`        | `published`, `updated` |
//! | `uri` when it is an http(s) URL         | `url`           |
//! | picture `associations` (largest image rendition) | `images` |
//! | `embargoed`, `expires`                  | `embargo`, `expires` |
//! | `urgency` (1–9)                         | `urgency`       |
//! | `copyrightnotice`, `usageterms`         | `rights.copyright`, `rights.usage_terms` |
//! | `rightsinfo.linkedrights` (1.x object, or the first of a 2.x array that has one) | `rights.link` |
//! | `version` (a string of digits, or a number) | `version`   |
//!
//! `pubstatus` `canceled` or `withheld` withdraws the story: the mapping says so
//! ([`Mapped::withdrawn`]) and the write path kills it, as `DELETE` does. `rightsinfo`'s
//! `encodedrights` (a machine-readable rights expression) and `langid` are not kept.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::model::{ArticleDraft, FieldError, ImageDraft, RightsDraft};

/// The media type a publisher sends ninjs with. `application/json` with a `profile` parameter
/// naming ninjs is accepted as well (see [`is_ninjs_media_type`]).
pub const MEDIA_TYPE: &str = "application/ninjs+json";

/// True when a Content-Type (already lower-cased) announces a ninjs document.
pub fn is_ninjs_media_type(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    match parts.next() {
        Some(MEDIA_TYPE) => true,
        Some("application/json") => parts.any(|p| {
            p.strip_prefix("profile=")
                .is_some_and(|profile| profile.contains("ninjs"))
        }),
        _ => false,
    }
}

/// A draft made from a ninjs document, remembering where each wirefeed field came from.
#[derive(Debug)]
pub struct Mapped {
    pub draft: ArticleDraft,
    /// The `pubstatus` that withdraws the story (`canceled` or `withheld`), if it does.
    pub withdrawn: Option<&'static str>,
    /// wirefeed pointer prefix → ninjs pointer it was read from.
    origins: Vec<(String, String)>,
}

impl Mapped {
    /// The ninjs pointer a wirefeed field pointer (`/title`, `/images/0/url`) came from.
    pub fn origin_of(&self, pointer: &str) -> String {
        self.origins
            .iter()
            .filter(|(ours, _)| {
                pointer == ours
                    || pointer
                        .strip_prefix(ours.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|(ours, _)| ours.len())
            .map(|(ours, theirs)| format!("{theirs}{}", &pointer[ours.len()..]))
            .unwrap_or_else(|| pointer.to_owned())
    }

    /// Validates the draft by the clock; error pointers name fields of the ninjs document.
    pub fn validate(self) -> Result<crate::model::Article, Vec<FieldError>> {
        self.validate_at(Utc::now())
    }

    /// Validates the draft as of `now`; error pointers name fields of the ninjs document.
    pub fn validate_at(self, now: DateTime<Utc>) -> Result<crate::model::Article, Vec<FieldError>> {
        let Mapped { draft, origins, .. } = self;
        let lookup = Mapped {
            draft: ArticleDraft::default(),
            withdrawn: None,
            origins,
        };
        draft.validate_at(now).map_err(|errors| {
            errors
                .into_iter()
                .map(|e| FieldError {
                    pointer: lookup.origin_of(&e.pointer),
                    message: e.message,
                })
                .collect()
        })
    }
}

/// Maps one ninjs document.
pub fn to_draft(doc: &Map<String, Value>) -> Result<Mapped, Vec<FieldError>> {
    let mut m = Mapper {
        doc,
        errors: Vec::new(),
        origins: Vec::new(),
    };
    let withdrawn = m.status();
    let draft = m.draft();
    if m.errors.is_empty() {
        Ok(Mapped {
            draft,
            withdrawn,
            origins: m.origins,
        })
    } else {
        Err(m.errors)
    }
}

/// A picked list item: its pointer, content type and value.
type Picked<'a> = (String, &'a str, &'a str);

struct Mapper<'a> {
    doc: &'a Map<String, Value>,
    errors: Vec<FieldError>,
    origins: Vec<(String, String)>,
}

impl<'a> Mapper<'a> {
    fn draft(&mut self) -> ArticleDraft {
        let uri = self.string(self.doc, "", "uri");
        let url = uri.filter(|u| u.starts_with("https://") || u.starts_with("http://"));
        self.from("/id", "/uri");
        self.from("/url", "/uri");
        ArticleDraft {
            id: uri.map(id_from_uri),
            title: self.title(),
            summary: self.summary(),
            content_html: self.body(),
            byline: self.byline(),
            source: self.text_field("/source", "copyrightholder"),
            dateline: self.text_field("/dateline", "located"),
            language: self.text_field("/language", "language"),
            categories: self.categories(),
            published: self.text_field("/published", "firstcreated"),
            updated: self.text_field("/updated", "versioncreated"),
            url: url.map(str::to_owned),
            images: self.images(),
            embargo: self.text_field("/embargo", "embargoed"),
            expires: self.text_field("/expires", "expires"),
            urgency: self.urgency(),
            rights: self.rights(),
            version: self.version(),
        }
    }

    fn error(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            pointer: pointer.into(),
            message: message.into(),
        });
    }

    /// Records that wirefeed's `ours` was read from ninjs `theirs`.
    fn from(&mut self, ours: &str, theirs: &str) {
        self.origins.push((ours.to_owned(), theirs.to_owned()));
    }

    /// A string member of `object` (at `at`), or `None`; a non-string is an error.
    fn string(&mut self, object: &'a Map<String, Value>, at: &str, key: &str) -> Option<&'a str> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.error(format!("{at}/{key}"), "must be a string");
                None
            }
        }
    }

    /// An array member of `object`, or empty; a non-array is an error.
    fn array(&mut self, object: &'a Map<String, Value>, at: &str, key: &str) -> &'a [Value] {
        match object.get(key) {
            None | Some(Value::Null) => &[],
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.error(format!("{at}/{key}"), "must be an array");
                &[]
            }
        }
    }

    fn text_field(&mut self, ours: &str, key: &str) -> Option<String> {
        self.from(ours, &format!("/{key}"));
        self.string(self.doc, "", key).map(str::to_owned)
    }

    /// The `pubstatus` that withdraws the story, if it does; anything but the three IPTC
    /// statuses is an error.
    fn status(&mut self) -> Option<&'static str> {
        match self.string(self.doc, "", "pubstatus") {
            None | Some("usable") => None,
            Some("canceled") => Some("canceled"),
            Some("withheld") => Some("withheld"),
            Some(other) => {
                self.error(
                    "/pubstatus",
                    format!("is {other:?}: ninjs knows \"usable\", \"withheld\" and \"canceled\""),
                );
                None
            }
        }
    }

    /// A whole-number member: a JSON number, or a string of digits (ninjs 1.x `version`).
    fn number(&mut self, ours: &str, key: &str) -> Option<i64> {
        self.from(ours, &format!("/{key}"));
        match self.doc.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok().or_else(|| {
                    self.error(format!("/{key}"), "is too large");
                    None
                })
            }
            Some(_) => {
                self.error(format!("/{key}"), "must be a whole number");
                None
            }
        }
    }

    fn urgency(&mut self) -> Option<i64> {
        self.number("/urgency", "urgency")
    }

    fn version(&mut self) -> Option<i64> {
        self.number("/version", "version")
    }

    /// `copyrightnotice`, `usageterms` and the link of `rightsinfo` (an object in 1.x, an
    /// array of them in 2.x: the first with a `linkedrights`).
    fn rights(&mut self) -> Option<RightsDraft> {
        let copyright = self.text_field("/rights/copyright", "copyrightnotice");
        let usage_terms = self.text_field("/rights/usage_terms", "usageterms");
        let infos: Vec<(String, &'a Map<String, Value>)> = match self.doc.get("rightsinfo") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(info)) => vec![("/rightsinfo".to_owned(), info)],
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| Some((format!("/rightsinfo/{i}"), v.as_object()?)))
                .collect(),
            Some(_) => {
                self.error("/rightsinfo", "must be an object or an array of objects");
                Vec::new()
            }
        };
        let mut link = None;
        for (at, info) in infos {
            if let Some(href) = self.string(info, &at, "linkedrights") {
                self.from("/rights/link", &format!("{at}/linkedrights"));
                link = Some(href.to_owned());
                break;
            }
        }
        (copyright.is_some() || usage_terms.is_some() || link.is_some()).then_some(RightsDraft {
            copyright,
            usage_terms,
            link,
        })
    }

    /// Picks one `{role, contenttype, value}` item from a 2.x list (`headlines`, `bodies`,
    /// `descriptions`): of the items whose content type one of `accept` takes, those taken by
    /// an earlier predicate first, then those with `role`, then the first in the list. The list
    /// is walked once, so each malformed item is reported once.
    fn pick(&mut self, key: &str, role: &str, accept: &[fn(&str) -> bool]) -> Option<Picked<'a>> {
        let items = self.array(self.doc, "", key);
        let mut best: Option<((usize, bool), Picked<'a>)> = None;
        for (i, item) in items.iter().enumerate() {
            let at = format!("/{key}/{i}");
            let Some(object) = item.as_object() else {
                self.error(at, "must be an object");
                continue;
            };
            let content_type = self
                .string(object, &at, "contenttype")
                .unwrap_or("text/plain");
            let item_role = self.string(object, &at, "role").unwrap_or_default();
            let Some(value) = self.string(object, &at, "value") else {
                continue;
            };
            let Some(rank) = accept.iter().position(|takes| takes(content_type)) else {
                continue;
            };
            let order = (rank, item_role != role);
            if best.as_ref().is_none_or(|(o, _)| order < *o) {
                best = Some((order, (format!("{at}/value"), content_type, value)));
            }
        }
        best.map(|(_, picked)| picked)
    }

    /// Plain text from a 2.x list, or else from the 1.x single field `single`, recorded as the
    /// origin of wirefeed's `ours`.
    fn text(
        &mut self,
        ours: &str,
        (list, role, accept): (&str, &str, fn(&str) -> bool),
        single: &str,
    ) -> Option<String> {
        let (at, value) = match self.pick(list, role, &[accept]) {
            Some((at, _, value)) => (at, Some(value)),
            None => (format!("/{single}"), self.string(self.doc, "", single)),
        };
        self.from(ours, &at);
        value.map(str::to_owned)
    }

    fn title(&mut self) -> Option<String> {
        self.text("/title", ("headlines", "main", |_| true), "headline")
    }

    fn summary(&mut self) -> Option<String> {
        self.text(
            "/summary",
            ("descriptions", "summary", |t| t == "text/plain"),
            "description_text",
        )
    }

    fn body(&mut self) -> Option<String> {
        let html = |t: &str| t == "text/html" || t == "application/xhtml+xml";
        let picked = self.pick("bodies", "", &[html, |t| t == "text/plain"]);
        let (at, value) = match picked {
            Some((at, t, value)) if html(t) => (at, Some(value.to_owned())),
            Some((at, _, value)) => (at, Some(paragraphs(value))),
            None => match self.string(self.doc, "", "body_html") {
                Some(value) => ("/body_html".to_owned(), Some(value.to_owned())),
                None => (
                    "/body_text".to_owned(),
                    self.string(self.doc, "", "body_text").map(paragraphs),
                ),
            },
        };
        self.from("/content_html", &at);
        value
    }

    fn byline(&mut self) -> Vec<String> {
        let (key, value) = match self.string(self.doc, "", "by") {
            Some(by) => ("by", Some(by)),
            None => ("byline", self.string(self.doc, "", "byline")),
        };
        self.from("/byline/0", &format!("/{key}"));
        value
            .filter(|v| !v.trim().is_empty())
            .map(|v| vec![v.to_owned()])
            .unwrap_or_default()
    }

    /// Categories from subjects: the `literal` (or else the `name`, or 1.x `code`) as a slug.
    fn categories(&mut self) -> Vec<String> {
        let key = if self.doc.contains_key("subjects") {
            "subjects"
        } else {
            "subject"
        };
        self.from("/categories", &format!("/{key}"));
        let mut categories = Vec::new();
        for (i, item) in self.array(self.doc, "", key).iter().enumerate() {
            let at = format!("/{key}/{i}");
            let Some(object) = item.as_object() else {
                self.error(at, "must be an object");
                continue;
            };
            let slug = ["literal", "name", "code"]
                .into_iter()
                .filter_map(|field| self.string(object, &at, field))
                .map(slugify)
                .find(|slug| !slug.is_empty());
            if let Some(slug) = slug {
                self.from(&format!("/categories/{}", categories.len()), &at);
                categories.push(slug);
            }
        }
        categories
    }

    /// Pictures among the associations, each as its largest image rendition.
    fn images(&mut self) -> Vec<ImageDraft> {
        let associations: Vec<(String, &'a Value)> = match self.doc.get("associations") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("/associations/{i}"), v))
                .collect(),
            Some(Value::Object(named)) => named
                .iter()
                .map(|(name, v)| (format!("/associations/{}", escape_pointer(name)), v))
                .collect(),
            Some(_) => {
                self.error("/associations", "must be an array or an object");
                Vec::new()
            }
        };
        let mut images = Vec::new();
        for (at, value) in associations {
            let Some(object) = value.as_object() else {
                self.error(at, "must be an object");
                continue;
            };
            let kind = self.string(object, &at, "type").unwrap_or("picture");
            if !matches!(kind, "picture" | "graphic") {
                continue;
            }
            let Some((rendition_at, rendition)) = self.largest_rendition(object, &at) else {
                continue;
            };
            let index = images.len();
            self.from(
                &format!("/images/{index}/url"),
                &format!("{rendition_at}/href"),
            );
            let content_type = self
                .string(rendition, &rendition_at, "contenttype")
                .or_else(|| self.string(rendition, &rendition_at, "mimetype"));
            self.from(
                &format!("/images/{index}/type"),
                &format!("{rendition_at}/contenttype"),
            );
            let caption = self.caption(object, &at);
            self.from(&format!("/images/{index}/caption"), &at);
            let credit = ["creditline", "by", "byline", "copyrightholder"]
                .into_iter()
                .find_map(|key| self.string(object, &at, key));
            self.from(&format!("/images/{index}/credit"), &at);
            images.push(ImageDraft {
                url: self
                    .string(rendition, &rendition_at, "href")
                    .map(str::to_owned),
                media_type: content_type.map(str::to_owned),
                width: dimension(rendition.get("width")),
                height: dimension(rendition.get("height")),
                caption: caption.map(str::to_owned),
                credit: credit.map(str::to_owned),
                ..ImageDraft::default()
            });
        }
        images
    }

    fn largest_rendition(
        &mut self,
        association: &'a Map<String, Value>,
        at: &str,
    ) -> Option<(String, &'a Map<String, Value>)> {
        let renditions: Vec<(String, &'a Value)> = match association.get("renditions") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{at}/renditions/{i}"), v))
                .collect(),
            Some(Value::Object(named)) => named
                .iter()
                .map(|(name, v)| (format!("{at}/renditions/{}", escape_pointer(name)), v))
                .collect(),
            // An association without renditions may carry its own href.
            _ => {
                return association
                    .contains_key("href")
                    .then(|| (at.to_owned(), association));
            }
        };
        renditions
            .into_iter()
            .filter_map(|(at, v)| Some((at, v.as_object()?)))
            .filter(|(_, r)| r.get("href").is_some_and(Value::is_string))
            .filter(|(_, r)| {
                let t = r
                    .get("contenttype")
                    .or_else(|| r.get("mimetype"))
                    .and_then(Value::as_str);
                t.is_none_or(|t| t.starts_with("image/"))
            })
            .max_by_key(|(_, r)| dimension(r.get("width")).unwrap_or(0))
    }

    fn caption(&mut self, association: &'a Map<String, Value>, at: &str) -> Option<&'a str> {
        for key in ["descriptions", "headlines"] {
            for item in self.array(association, at, key) {
                if let Some(value) = item.get("value").and_then(Value::as_str) {
                    return Some(value);
                }
            }
        }
        ["description_text", "headline"]
            .into_iter()
            .find_map(|key| self.string(association, at, key))
    }
}

/// A wirefeed article id from a ninjs `uri`: every character outside `A-Za-z0-9._-` becomes
/// `-`, runs of `-` collapse, and the ends are trimmed to a letter or digit.
pub fn id_from_uri(uri: &str) -> String {
    let mut id = String::with_capacity(uri.len());
    for c in uri.chars() {
        let keep = c.is_ascii_alphanumeric() || c == '.' || c == '_';
        if keep {
            id.push(c);
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    id.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// A category slug from a subject name: `Asia Pacific` → `asia-pacific`, `G20` → `g20`.
/// Names with no ASCII letters or digits give an empty slug (and are passed over).
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// Plain text as HTML paragraphs, one per blank-line-separated block, escaped.
fn paragraphs(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 64);
    for block in text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        html.push_str("<p>");
        for c in block.chars() {
            match c {
                '&' => html.push_str("&amp;"),
                '<' => html.push_str("&lt;"),
                '>' => html.push_str("&gt;"),
                c => html.push(c),
            }
        }
        html.push_str("</p>");
    }
    html
}

fn dimension(value: Option<&Value>) -> Option<u32> {
    value
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// Escapes a member name for a JSON pointer (RFC 6901 section 3).
fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests;
