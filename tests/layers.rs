//! The layer rules of docs/ARCHITECTURE.md, checked on the source: each layer imports only the
//! layers below it, so the arrows in the module map stay true as the code grows.
//!
//! A file is read up to its first `#[cfg(test)]` (tests may use anything), and every
//! `crate::<module>` path and external crate path in it is collected.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn sources(under: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if under.is_file() {
        out.push(under.to_owned());
        return out;
    }
    for entry in std::fs::read_dir(under).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Code of `file` before its tests.
fn code(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The wirefeed modules a layer (a file or folder under src/) uses.
fn crate_modules(layer: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let path = if root.join(layer).is_dir() {
        root.join(layer)
    } else {
        root.join(format!("{layer}.rs"))
    };
    let mut used = BTreeSet::new();
    for file in sources(&path) {
        let text = code(&file);
        for (at, _) in text.match_indices("crate::") {
            let before = text[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let name: String = text[at + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != layer {
                used.insert(name);
            }
        }
    }
    used
}

fn uses_hyper(file: &Path) -> bool {
    let text = code(file);
    text.contains("hyper::") || text.contains("use hyper;")
}

#[test]
fn model_imports_nothing_of_wirefeed() {
    assert_eq!(crate_modules("model"), BTreeSet::new());
}

#[test]
fn store_imports_only_model() {
    let used = crate_modules("store");
    assert!(used.iter().all(|m| m == "model"), "{used:?}");
}

#[test]
fn render_imports_only_model_and_site() {
    let used = crate_modules("render");
    assert!(used.iter().all(|m| m == "model" || m == "site"), "{used:?}");
}

#[test]
fn cache_never_imports_http_or_store_internals() {
    let used = crate_modules("cache");
    assert!(!used.contains("http"), "{used:?}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cache");
    for file in sources(&root) {
        let text = code(&file);
        for internal in ["store::sqlite", "store::postgres", "store::listen"] {
            assert!(
                !text.contains(internal),
                "{} uses {internal}",
                file.display()
            );
        }
    }
}

#[test]
fn only_http_and_the_entry_point_import_hyper() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let offenders: Vec<PathBuf> = sources(&root)
        .into_iter()
        .filter(|f| !f.starts_with(root.join("http")))
        .filter(|f| !f.ends_with("main.rs") && !f.ends_with("cli.rs"))
        .filter(|f| uses_hyper(f))
        .collect();
    assert!(offenders.is_empty(), "{offenders:?}");
}

#[test]
fn nothing_cites_a_path_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["src", "tests", "benches"] {
        for file in sources(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                !text.contains(concat!("../", "shared"))
                    && !text.contains(concat!("DESIGN", ".md")),
                "{} cites a document outside the repository",
                file.display()
            );
        }
    }
}
