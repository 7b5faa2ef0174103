//! Article files: JSON (one article object, or an array of them) and NDJSON (one article per
//! line, `.ndjson` or `.jsonl`), found by walking a directory in name order.
//!
//! Files are read one at a time and NDJSON line by line, so a directory of any size is
//! imported in constant memory. Each story comes with where it was found, so a rejection can
//! name the file and line.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;

use crate::model::Article;

/// Where a story was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is neither a .json, .ndjson nor .jsonl file, nor a directory")]
    Unsupported { path: PathBuf },
}

/// What one record turned out to be: a valid story, or the reason it is not.
pub type Record = Result<Article, String>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FilesError + '_ {
    move |source| FilesError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The article files under `path` (itself, if it is a file), in name order.
pub fn article_files(path: &Path) -> Result<Vec<PathBuf>, FilesError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if meta.is_file() {
        return if is_article_file(path) {
            Ok(vec![path.to_owned()])
        } else {
            Err(FilesError::Unsupported {
                path: path.to_owned(),
            })
        };
    }
    let mut found = Vec::new();
    let mut dirs = vec![path.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            if entry.file_type().map_err(io(&path))?.is_dir() {
                dirs.push(path);
            } else if is_article_file(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn is_article_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("json" | "ndjson" | "jsonl")
    )
}

/// Reads every record of one file, handing each to `each` as soon as it is read.
pub fn read_file(path: &Path, mut each: impl FnMut(Location, Record)) -> Result<(), FilesError> {
    let at = |line| Location {
        file: path.to_owned(),
        line,
    };
    if path.extension().is_some_and(|e| e == "json") {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        for (line, record) in json_records(&text) {
            each(at(line), record);
        }
        return Ok(());
    }
    let reader = BufReader::new(File::open(path).map_err(io(path))?);
    for (index, line) in reader.split(b'\n').enumerate() {
        let bytes = line.map_err(io(path))?;
        let record = match std::str::from_utf8(&bytes) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => parse_record(text),
            Err(e) => Err(format!("not valid UTF-8: {e}")),
        };
        each(at(index + 1), record);
    }
    Ok(())
}

/// The records of a JSON document — one object or an array of objects — each with the line
/// it starts on.
pub fn json_records(text: &str) -> Vec<(usize, Record)> {
    let line_of = |offset: usize| text[..offset].bytes().filter(|&b| b == b'\n').count() + 1;
    let trimmed = text.trim_start();
    if !trimmed.starts_with('[') {
        return vec![(line_of(text.len() - trimmed.len()), parse_record(text))];
    }
    match serde_json::from_str::<Vec<&RawValue>>(text) {
        Ok(items) => items
            .into_iter()
            .map(|raw| {
                let offset = raw.get().as_ptr() as usize - text.as_ptr() as usize;
                (line_of(offset), parse_record(raw.get()))
            })
            .collect(),
        Err(e) => vec![(e.line(), Err(format!("not a JSON array of articles: {e}")))],
    }
}

fn parse_record(text: &str) -> Record {
    Article::from_json(text).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"id":"a1","title":"Flash","summary":"S","categories":["world"],"published":"2026-11-25T08:00:00Z"}"#;

    #[test]
    fn array_elements_are_located_by_the_line_they_start_on() {
        let text = format!("[\n  {GOOD},\n  {{\"id\": \"bad id\"}}\n]\n");
        let records = json_records(&text);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0, 2);
        assert!(records[0].1.is_ok());
        assert_eq!(records[1].0, 3);
        assert!(records[1].1.as_ref().unwrap_err().contains("/id"));
    }

    #[test]
    fn ndjson_lines_are_numbered_and_blank_lines_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wire.ndjson");
        std::fs::write(&path, format!("{GOOD}\n\nnot json\n")).unwrap();
        let mut seen = Vec::new();
        read_file(&path, |at, record| seen.push((at.line, record.is_ok()))).unwrap();
        assert_eq!(seen, [(1, true), (3, false)]);
    }

    #[test]
    fn a_directory_is_walked_in_name_order_skipping_other_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("2026")).unwrap();
        for name in ["b.json", "a.ndjson", "notes.txt", "2026/c.jsonl"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let names: Vec<String> = article_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["2026/c.jsonl", "a.ndjson", "b.json"]);
    }
}
