//! The checks a key's definition can name (`check …` in `keys`): ranges, non-blank text,
//! directories that exist. Each message says what is wrong and what to do.

use std::fmt;
use std::path::{Path, PathBuf};

/// A value must be at least `min`.
pub(crate) fn at_least<T: PartialOrd + fmt::Display + Copy>(
    min: T,
    why: &'static str,
) -> impl Fn(&T) -> Result<(), String> {
    move |v| {
        if *v >= min {
            Ok(())
        } else {
            Err(format!("must be at least {min}, not {v}: {why}"))
        }
    }
}

/// A value must be from `min` to `max`.
pub(crate) fn between<T: PartialOrd + fmt::Display + Copy>(
    min: T,
    max: T,
    why: &'static str,
) -> impl Fn(&T) -> Result<(), String> {
    move |v| {
        if (min..=max).contains(v) {
            Ok(())
        } else {
            Err(format!("must be from {min} to {max}, not {v}: {why}"))
        }
    }
}

/// A string must not be blank.
pub(crate) fn not_blank(why: &'static str) -> impl Fn(&String) -> Result<(), String> {
    move |v| {
        if v.trim().is_empty() {
            Err(format!("must not be empty: {why}"))
        } else {
            Ok(())
        }
    }
}

/// A directory that must exist (read, never created, at load).
pub(crate) fn existing_directory(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{} is not a directory: point it at the directory of feed definitions (*.toml)",
            path.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "the directory {} does not exist{}: create it (an empty one gives every category a default feed), or point it at your feed definitions",
            path.display(),
            relative_to_cwd(path)
        )),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// An optional directory that must exist when set.
pub(crate) fn acme_dir_exists(path: &Option<PathBuf>) -> Result<(), String> {
    match path {
        None => Ok(()),
        Some(path) if path.is_dir() => Ok(()),
        Some(path) => Err(format!(
            "the directory {} does not exist{}: create it (certbot --webroot -w writes challenges below it)",
            path.display(),
            relative_to_cwd(path)
        )),
    }
}

/// An optional file that must exist when set.
pub(crate) fn file_exists_if_set(
    what: &'static str,
) -> impl Fn(&Option<PathBuf>) -> Result<(), String> {
    move |path| match path {
        None => Ok(()),
        Some(path) if path.is_file() => Ok(()),
        Some(path) => Err(format!(
            "{what} {} does not exist{}: create it, or leave the setting out",
            path.display(),
            relative_to_cwd(path)
        )),
    }
}

/// A directory that may be missing (it is created when serving), but is not a file.
pub(crate) fn directory_or_missing(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_dir() => Err(format!(
            "{} is a file, not a directory: point it at a directory (it is created if missing)",
            path.display()
        )),
        _ => Ok(()),
    }
}

fn relative_to_cwd(path: &Path) -> String {
    match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => format!(" (relative to {})", cwd.display()),
        _ => String::new(),
    }
}
