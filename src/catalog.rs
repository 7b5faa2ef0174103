//! The feed catalog: which feeds exist and how each is shaped, from `feeds/*.toml`.
//!
//! A file `feeds/{slug}.toml` defines the feed served at `/feeds/{slug}.*`: its title,
//! description, the categories it gathers, how many entries it shows and how long clients may
//! cache it. A category with stories but no file gets a feed with the defaults below; `all` is
//! the whole wire unless `feeds/all.toml` says otherwise, and `flash` the most urgent stories
//! of every category (`feeds/flash.toml` may shape it, but not choose its categories). A
//! definition's `rights` is its rights statement, else the configured default. The catalog is
//! loaded once at start-up and never touches the store: callers tell it which categories exist.
//!
//! A definition with `access = "partners"` makes its feed partner-only, and with it the
//! categories it lists: those are *restricted*. A public document shows a story only when it is
//! filed in at least one category that is not restricted; a public request for a partner-only
//! feed (or for the default feed of a restricted category) is refused, and such feeds are left
//! out of every public listing (OPML, the home page).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::model::{
    ALL_SLUG, Access, Category, DEFAULT_FLASH_MAX_AGE, DEFAULT_FLASH_URGENCY, FLASH_SLUG, FeedDef,
    MAX_ENTRIES, Selection,
};

/// One `feeds/*.toml` file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedFile {
    title: Option<toml::Spanned<String>>,
    description: Option<String>,
    /// Category slugs gathered into this feed; `["*"]` for all. Defaults to the file's own slug.
    categories: Option<toml::Spanned<Vec<String>>>,
    entries: Option<toml::Spanned<usize>>,
    max_age: Option<u32>,
    stale_while_revalidate: Option<u32>,
    language: Option<String>,
    rights: Option<String>,
    /// `"public"` (the default) or `"partners"`.
    access: Option<toml::Spanned<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the feeds directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone)]
pub struct Catalog {
    site_title: String,
    defined: BTreeMap<String, FeedDef>,
    /// The flash feed's urgency level and `max_age` (when its file doesn't set it).
    flash: (u8, u32),
    /// `feeds/flash.toml` and its text, read again when the flash settings change.
    flash_file: Option<(PathBuf, String)>,
    /// The rights statement of feeds whose definition has none.
    rights: Option<String>,
    /// Categories of partner-only feeds, sorted.
    restricted: Vec<Category>,
}

impl Catalog {
    /// A catalog with no definition files: every category, `all` and `flash` get defaults.
    pub fn empty(site_title: &str) -> Self {
        Self {
            site_title: site_title.to_owned(),
            defined: BTreeMap::new(),
            flash: (DEFAULT_FLASH_URGENCY, DEFAULT_FLASH_MAX_AGE),
            flash_file: None,
            rights: None,
            restricted: Vec::new(),
        }
    }

    /// The flash feed holds stories of urgency 1 to `urgency`, and is cached `max_age` seconds
    /// unless `feeds/flash.toml` says otherwise.
    pub fn with_flash(mut self, urgency: u8, max_age: u32) -> Self {
        self.flash = (urgency, max_age);
        if let Some((path, text)) = &self.flash_file {
            let mut def = parse_definition(path, text, &self.site_title, self.flash)
                .expect("the file was read once already");
            def.defined_at = self.defined.get(FLASH_SLUG).and_then(|d| d.defined_at);
            self.defined.insert(FLASH_SLUG.to_owned(), def);
        }
        self
    }

    /// The rights statement of every feed whose definition has none.
    pub fn with_rights(mut self, rights: Option<String>) -> Self {
        self.rights = rights.filter(|r| !r.trim().is_empty());
        self
    }

    fn flash_feed(&self) -> FeedDef {
        let (urgency, max_age) = self.flash;
        FeedDef::default_flash(&self.site_title, urgency, max_age)
    }

    /// A feed as served: with the default rights when it has none of its own.
    fn finished(&self, mut def: FeedDef) -> FeedDef {
        if def.rights.is_none() {
            def.rights = self.rights.clone();
        }
        def
    }

    /// Reads every `*.toml` file in `dir`. A missing directory is an empty catalog; every bad
    /// file is reported, not just the first.
    pub fn load(dir: &Path, site_title: &str) -> Result<Self, Vec<CatalogError>> {
        let mut catalog = Self::empty(site_title);
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(catalog),
            Err(source) => {
                return Err(vec![CatalogError::Dir {
                    path: dir.to_owned(),
                    source,
                }]);
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        paths.sort();

        let mut errors = Vec::new();
        for path in paths {
            // Only regular files are feed definitions: a link could point at any file (the
            // config with its tokens), whose lines a parse error would then echo.
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_file() => {}
                Ok(meta) => {
                    let what = if meta.file_type().is_symlink() {
                        "a symbolic link"
                    } else {
                        "not a regular file"
                    };
                    errors.push(CatalogError::Invalid {
                        path,
                        message: format!(
                            "is {what}, and feed definitions must be regular files in the feeds directory: copy the definition here instead of linking to it"
                        ),
                    });
                    continue;
                }
                Err(source) => {
                    errors.push(CatalogError::Read { path, source });
                    continue;
                }
            }
            match std::fs::read_to_string(&path) {
                Ok(text) => match parse_definition(&path, &text, site_title, catalog.flash) {
                    Ok(mut def) => {
                        def.defined_at = std::fs::metadata(&path)
                            .and_then(|m| m.modified())
                            .ok()
                            .map(DateTime::<Utc>::from);
                        if def.slug == FLASH_SLUG {
                            catalog.flash_file = Some((path.clone(), text));
                        }
                        catalog.defined.insert(def.slug.clone(), def);
                    }
                    Err(message) => errors.push(CatalogError::Invalid { path, message }),
                },
                Err(source) => errors.push(CatalogError::Read { path, source }),
            }
        }
        if errors.is_empty() {
            catalog.restrict();
            Ok(catalog)
        } else {
            Err(errors)
        }
    }

    /// Notes the categories of partner-only feeds.
    fn restrict(&mut self) {
        let mut restricted: Vec<Category> = self
            .defined
            .values()
            .filter(|def| def.access == Access::Partners)
            .filter_map(|def| match &def.selection {
                Selection::Categories(list) => Some(list.iter().cloned()),
                Selection::All | Selection::Urgent(_) => None,
            })
            .flatten()
            .collect();
        restricted.sort();
        restricted.dedup();
        self.restricted = restricted;
    }

    /// Categories only partners may read.
    pub fn restricted(&self) -> &[Category] {
        &self.restricted
    }

    /// Whether a public reader may see a story filed in `categories`: when at least one of
    /// them is not restricted.
    pub fn is_public(&self, categories: &[Category]) -> bool {
        categories.iter().any(|c| !self.restricted.contains(c))
    }

    /// Whether the feed at `slug` is for partners only: defined so, or the default feed of a
    /// restricted category.
    pub fn partners_only(&self, slug: &str) -> bool {
        match self.defined.get(slug) {
            Some(def) => def.access == Access::Partners,
            None => Category::parse(slug).is_ok_and(|c| self.restricted.contains(&c)),
        }
    }

    /// What a public reader sees of `selection`, given the categories that have stories:
    /// the selection without restricted categories. `None` when it named categories and every
    /// one of them is restricted. The flash feed's selection is kept: its stories are filtered
    /// with [`Catalog::is_public`] once read.
    pub fn public_selection(
        &self,
        selection: &Selection,
        categories: &[Category],
    ) -> Option<Selection> {
        if self.restricted.is_empty() {
            return Some(selection.clone());
        }
        let open = |list: &[Category]| -> Vec<Category> {
            list.iter()
                .filter(|c| !self.restricted.contains(c))
                .cloned()
                .collect()
        };
        match selection {
            Selection::All => Some(Selection::Categories(open(categories))),
            Selection::Urgent(_) => Some(selection.clone()),
            Selection::Categories(list) => {
                let open = open(list);
                (!open.is_empty()).then_some(Selection::Categories(open))
            }
        }
    }

    /// The feed at `slug`, if there is one: a definition, `all`, or a category that has
    /// stories (`category_exists` is asked only when no definition matches).
    pub fn feed(
        &self,
        slug: &str,
        category_exists: impl FnOnce(&Category) -> bool,
    ) -> Option<FeedDef> {
        let def = if let Some(def) = self.defined.get(slug) {
            def.clone()
        } else if slug == ALL_SLUG {
            FeedDef::default_all(&self.site_title)
        } else if slug == FLASH_SLUG {
            self.flash_feed()
        } else {
            let category = Category::parse(slug).ok()?;
            if !category_exists(&category) {
                return None;
            }
            FeedDef::default_for(&category, &self.site_title)
        };
        Some(self.finished(def))
    }

    /// Every public feed worth listing, given the categories that have stories: `all` and
    /// `flash` first, then the rest by slug. Partner-only feeds are left out.
    pub fn list(&self, categories: &[Category]) -> Vec<FeedDef> {
        let mut feeds: BTreeMap<String, FeedDef> = self.defined.clone();
        for category in categories {
            feeds
                .entry(category.as_str().to_owned())
                .or_insert_with(|| FeedDef::default_for(category, &self.site_title));
        }
        let all = feeds
            .remove(ALL_SLUG)
            .unwrap_or_else(|| FeedDef::default_all(&self.site_title));
        let flash = feeds
            .remove(FLASH_SLUG)
            .unwrap_or_else(|| self.flash_feed());
        [all, flash]
            .into_iter()
            .chain(feeds.into_values())
            .filter(|def| !self.partners_only(&def.slug))
            .map(|def| self.finished(def))
            .collect()
    }
}

/// One definition file; `flash` is the flash feed's urgency and `max_age` before the file's.
fn parse_definition(
    path: &Path,
    text: &str,
    site_title: &str,
    (urgency, max_age): (u8, u32),
) -> Result<FeedDef, String> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let slug_category = Category::parse(stem)
        .map_err(|_| format!("the file name must be a feed slug such as world.toml or asia-pacific.toml, not {stem:?}"))?;
    let file: FeedFile = toml::from_str(text).map_err(|e| e.to_string())?;

    let mut def = if stem == ALL_SLUG {
        FeedDef::default_all(site_title)
    } else if stem == FLASH_SLUG {
        FeedDef::default_flash(site_title, urgency, max_age)
    } else {
        FeedDef::default_for(&slug_category, site_title)
    };
    let mut problems = Vec::new();
    // Each problem names the line of the setting it is about.
    let at = |span: std::ops::Range<usize>| {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        format!("line {line}: ")
    };
    if let Some(categories) = file.categories {
        let line = at(categories.span());
        let categories = categories.into_inner();
        if stem == FLASH_SLUG {
            problems.push(format!(
                "{line}the flash feed gathers every category by urgency (the flash_urgency setting): leave `categories` out"
            ));
        } else if categories.iter().any(|c| c == "*") {
            def.selection = Selection::All;
        } else if categories.is_empty() {
            problems.push(format!(
                "{line}`categories` must list at least one category slug, or \"*\" for all"
            ));
        } else {
            let mut parsed = Vec::new();
            for raw in &categories {
                match Category::parse(raw) {
                    Ok(c) => parsed.push(c),
                    Err(m) => problems.push(format!("{line}`categories`: {m}")),
                }
            }
            def.selection = Selection::Categories(parsed);
        }
    }
    if let Some(title) = file.title {
        let line = at(title.span());
        let title = title.into_inner();
        if title.trim().is_empty() {
            problems.push(format!("{line}`title` must not be empty"));
        }
        def.title = title.trim().to_owned();
    }
    if let Some(description) = file.description {
        def.description = description.trim().to_owned();
    }
    if let Some(entries) = file.entries {
        let line = at(entries.span());
        let entries = entries.into_inner();
        if !(1..=MAX_ENTRIES).contains(&entries) {
            problems.push(format!(
                "{line}`entries` must be between 1 and {MAX_ENTRIES}, not {entries}"
            ));
        }
        def.entries = entries;
    }
    if let Some(max_age) = file.max_age {
        def.max_age = max_age;
    }
    if let Some(swr) = file.stale_while_revalidate {
        def.stale_while_revalidate = swr;
    }
    def.language = file.language;
    def.rights = file
        .rights
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if let Some(access) = file.access {
        let line = at(access.span());
        match access.into_inner().as_str() {
            "public" => def.access = Access::Public,
            "partners" => def.access = Access::Partners,
            other => problems.push(format!(
                "{line}`access` must be \"public\" or \"partners\", not {other:?}"
            )),
        }
        if def.access == Access::Partners && def.selection == Selection::All {
            problems.push(format!(
                "{line}a partner-only feed must list its categories (they become partner-only): \"*\" would hide the whole wire"
            ));
        }
    }
    if problems.is_empty() {
        Ok(def)
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests;
