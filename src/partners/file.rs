//! Reading and checking the partners file. Every problem is reported with the file and line,
//! and no message ever holds a key: the TOML parser's own messages are cut to their text, with
//! anything quoted in them masked.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::{Held, Partner, PartnerSet, digest};
use crate::model::{Category, Level};

/// The shortest plain key accepted: 16 characters (about 96 bits when random base64).
pub(crate) const MIN_KEY_CHARS: usize = 16;
/// The longest partner name, so it fits a log line and a metrics label.
const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    #[serde(default)]
    partner: Vec<Spanned<PartnerText>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerText {
    name: Spanned<String>,
    keys: Spanned<Vec<Spanned<String>>>,
    categories: Spanned<BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    embargo_early: bool,
    quota_hour: Option<Spanned<u64>>,
    quota_day: Option<Spanned<u64>>,
}

/// Reads and checks the file at `path`.
pub(super) fn read(path: &Path) -> Result<PartnerSet, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![format!(
            "{}: cannot read the partners file: {e}",
            path.display()
        )]
    })?;
    parse(&text).map_err(|problems| {
        problems
            .into_iter()
            .map(|p| format!("{}: {p}", path.display()))
            .collect()
    })
}

/// Checks the file's text; each problem starts with `line N: `.
pub(super) fn parse(text: &str) -> Result<PartnerSet, Vec<String>> {
    let line = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
    let file: FileText = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map_or(String::new(), |s| format!("line {}: ", line(s.start)));
        vec![format!("{at}{}", masked(e.message()))]
    })?;
    let mut problems = Vec::new();
    let mut set = PartnerSet::default();
    let mut names: HashMap<String, usize> = HashMap::new();
    for entry in file.partner {
        let entry = entry.into_inner();
        let name_line = line(entry.name.span().start);
        let name = entry.name.into_inner().trim().to_owned();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            problems.push(format!(
                "line {name_line}: a partner's `name` must be 1 to {MAX_NAME_CHARS} characters without control characters"
            ));
        } else if let Some(first) = names.insert(name.clone(), name_line) {
            problems.push(format!(
                "line {name_line}: the partner name {name:?} is already used at line {first}"
            ));
        }
        let mut levels = BTreeMap::new();
        let mut others = None;
        let categories_line = line(entry.categories.span().start);
        for (category, level) in entry.categories.into_inner() {
            let level_line = line(level.span().start);
            let level = match level.into_inner().as_str() {
                "full" => Level::Full,
                "headlines" => Level::Headlines,
                other => {
                    problems.push(format!(
                        "line {level_line}: the level of {category:?} must be \"full\" or \"headlines\", not {other:?}"
                    ));
                    continue;
                }
            };
            if category == "*" {
                others = Some(level);
                continue;
            }
            match Category::parse(&category) {
                Ok(c) => {
                    levels.insert(c, level);
                }
                Err(e) => problems.push(format!("line {level_line}: `categories`: {e}")),
            }
        }
        if levels.is_empty() && others.is_none() {
            problems.push(format!(
                "line {categories_line}: `categories` must give at least one category (or \"*\") a level"
            ));
        }
        for (quota, what) in [
            (&entry.quota_hour, "quota_hour"),
            (&entry.quota_day, "quota_day"),
        ] {
            if let Some(q) = quota.as_ref().filter(|q| *q.get_ref() == 0) {
                problems.push(format!(
                    "line {}: `{what}` must be at least 1 (leave it out for no limit)",
                    line(q.span().start)
                ));
            }
        }
        let index = set.partners.len();
        let keys_line = line(entry.keys.span().start);
        let keys = entry.keys.into_inner();
        if keys.is_empty() {
            problems.push(format!(
                "line {keys_line}: partner {name:?} has no key: give it at least one in `keys`"
            ));
        }
        for key in keys {
            let key_line = line(key.span().start);
            let key = key.into_inner();
            let (digest, held) = match held(&key) {
                Ok(found) => found,
                Err(problem) => {
                    problems.push(format!("line {key_line}: partner {name:?}: {problem}"));
                    continue;
                }
            };
            if let Some((other, _)) = set.keys.insert(digest, (index, held)) {
                let other = set
                    .partners
                    .get(other)
                    .map_or(name.as_str(), |p| p.name.as_str());
                problems.push(format!(
                    "line {key_line}: partner {name:?}: this key is also a key of {other:?} (each key must name one partner)"
                ));
            }
        }
        set.partners.push(Arc::new(Partner {
            name,
            levels,
            others,
            embargo_early: entry.embargo_early,
            quota_hour: entry.quota_hour.map(Spanned::into_inner),
            quota_day: entry.quota_day.map(Spanned::into_inner),
        }));
    }
    if problems.is_empty() {
        Ok(set)
    } else {
        Err(problems)
    }
}

/// A key as written: `sha256:` and 64 hex digits, or the key itself (at least
/// [`MIN_KEY_CHARS`] visible ASCII characters, as it travels in headers and URLs).
fn held(key: &str) -> Result<([u8; 32], Held), String> {
    if let Some(hex) = key.strip_prefix("sha256:") {
        let mut digest = [0u8; 32];
        let ok = hex.len() == 64
            && hex.is_ascii()
            && digest.iter_mut().enumerate().all(|(i, byte)| {
                u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .map(|b| *byte = b)
                    .is_ok()
            });
        return if ok {
            Ok((digest, Held::Digest))
        } else {
            Err("a key written as a digest must be sha256: and 64 hex digits".to_owned())
        };
    }
    if key.chars().count() < MIN_KEY_CHARS || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "a key must be at least {MIN_KEY_CHARS} visible ASCII characters without spaces (e.g. openssl rand -base64 24), or sha256: and its digest"
        ));
    }
    Ok((digest(key.as_bytes()), Held::Plain(key.as_bytes().to_vec())))
}

/// A parser message with anything between quotes masked, so a key in the wrong place is not
/// echoed.
fn masked(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"****");
            }
            quoted = !quoted;
            if !quoted {
                out.push('"');
            }
            continue;
        }
        if !quoted {
            out.push(c);
        }
    }
    out.trim_end().to_owned()
}
