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

/// Reads every record of one file, handing each to `each` as soon as it is read, with the
/// number of bytes of the file read so far (for progress).
pub fn read_file(
    path: &Path,
    mut each: impl FnMut(Location, Record, u64),
) -> Result<(), FilesError> {
    let at = |line| Location {
        file: path.to_owned(),
        line,
    };
    let file = File::open(path).map_err(io(path))?;
    if path.extension().is_some_and(|e| e == "json") {
        let reader = Counting::new(BufReader::new(file));
        return json_stream(reader, |line, record, read| each(at(line), record, read))
            .map_err(io(path));
    }
    let mut reader = BufReader::new(file);
    let mut bytes = Vec::new();
    let (mut line, mut read) = (0, 0u64);
    loop {
        bytes.clear();
        let n = reader.read_until(b'\n', &mut bytes).map_err(io(path))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        read += n as u64;
        let record = match std::str::from_utf8(&bytes) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => parse_record(text),
            Err(e) => Err(not_utf8(e)),
        };
        each(at(line), record, read);
    }
}

/// The records of a JSON document held in memory — one object or an array of objects — each
/// with the line it starts on.
pub fn json_records(text: &str) -> Vec<(usize, Record)> {
    let mut records = Vec::new();
    json_stream(Counting::new(text.as_bytes()), |line, record, _| {
        records.push((line, record))
    })
    .expect("reading from memory cannot fail");
    records
}

/// Most bytes one element of a JSON array may take (a story is at most ~1 MB of JSON).
const MAX_ELEMENT_BYTES: usize = 8 * 1024 * 1024;

/// Streams the records of a JSON document — one object, or an array of objects read one
/// element at a time — so that a file of any size needs memory for one story only.
fn json_stream<R: BufRead>(
    mut reader: Counting<R>,
    mut each: impl FnMut(usize, Record, u64),
) -> std::io::Result<()> {
    match reader.skip_whitespace()? {
        None => each(1, Err("the file is empty".into()), reader.bytes),
        Some(b'[') => {
            reader.next()?;
            let mut element = Vec::new();
            loop {
                match reader.skip_whitespace()? {
                    Some(b']') => break,
                    None => {
                        each(
                            reader.lines + 1,
                            Err("the JSON array is not closed".into()),
                            reader.bytes,
                        );
                        break;
                    }
                    Some(_) => {}
                }
                let line = reader.lines + 1;
                element.clear();
                if let Err(reason) = reader.element(&mut element)? {
                    each(line, Err(reason), reader.bytes);
                    break;
                }
                each(line, parse_bytes(&element), reader.bytes);
                match reader.skip_whitespace()? {
                    Some(b',') => {
                        reader.next()?;
                    }
                    Some(b']') => break,
                    _ => {
                        each(
                            reader.lines + 1,
                            Err("expected ',' or ']' after an article".into()),
                            reader.bytes,
                        );
                        break;
                    }
                }
            }
        }
        Some(_) => {
            let line = reader.lines + 1;
            let mut text = Vec::new();
            while let Some(b) = reader.next()? {
                text.push(b);
            }
            each(line, parse_bytes(&text), reader.bytes);
        }
    }
    Ok(())
}

/// A byte reader that counts lines and bytes as it goes.
struct Counting<R> {
    inner: R,
    lines: usize,
    bytes: u64,
}

impl<R: BufRead> Counting<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            lines: 0,
            bytes: 0,
        }
    }

    fn peek(&mut self) -> std::io::Result<Option<u8>> {
        Ok(self.inner.fill_buf()?.first().copied())
    }

    fn next(&mut self) -> std::io::Result<Option<u8>> {
        let byte = self.peek()?;
        if let Some(b) = byte {
            self.inner.consume(1);
            self.bytes += 1;
            if b == b'\n' {
                self.lines += 1;
            }
        }
        Ok(byte)
    }

    /// Skips whitespace and returns the next byte without consuming it.
    fn skip_whitespace(&mut self) -> std::io::Result<Option<u8>> {
        while let Some(b) = self.peek()? {
            if !b.is_ascii_whitespace() {
                return Ok(Some(b));
            }
            self.next()?;
        }
        Ok(None)
    }

    /// Reads one array element's bytes: up to the `,` or `]` that ends it, outside strings
    /// and nested brackets. The inner `Err` is a framing problem to report.
    fn element(&mut self, out: &mut Vec<u8>) -> std::io::Result<Result<(), String>> {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        loop {
            let Some(b) = self.peek()? else {
                return Ok(Err("the file ends inside an article".into()));
            };
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => depth -= 1,
                    b']' | b',' if depth == 0 => return Ok(Ok(())),
                    _ => {}
                }
            }
            if out.len() >= MAX_ELEMENT_BYTES {
                return Ok(Err(format!(
                    "an article is longer than {MAX_ELEMENT_BYTES} bytes"
                )));
            }
            out.push(b);
            self.next()?;
        }
    }
}

fn parse_bytes(bytes: &[u8]) -> Record {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_record(text),
        Err(e) => Err(not_utf8(e)),
    }
}

fn not_utf8(e: std::str::Utf8Error) -> String {
    format!("not valid UTF-8: {e}")
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
    fn array_framing_ignores_brackets_and_commas_inside_strings() {
        let tricky = GOOD.replace("Flash", r#"Flash, ] [ } { \" \\"#);
        let text = format!("[{tricky},\n\n{GOOD}\n,{GOOD}]");
        let records = json_records(&text);
        let lines: Vec<usize> = records.iter().map(|r| r.0).collect();
        assert_eq!(lines, [1, 3, 4]);
        assert!(records.iter().all(|r| r.1.is_ok()), "{records:?}");
        let title = &records[0].1.as_ref().unwrap().title;
        assert_eq!(title, r#"Flash, ] [ } { " \"#);
    }

    #[test]
    fn broken_arrays_are_reported_not_swallowed() {
        let unclosed = json_records(&format!("[\n{GOOD},\n"));
        assert!(unclosed[0].1.is_ok());
        assert_eq!(unclosed[1].0, 3);
        assert!(unclosed[1].1.as_ref().unwrap_err().contains("not closed"));
        let cut = json_records(&format!("[{}", &GOOD[..20]));
        assert!(cut[0].1.as_ref().unwrap_err().contains("ends inside"));
        assert!(
            json_records("")[0]
                .1
                .as_ref()
                .unwrap_err()
                .contains("empty")
        );
        assert_eq!(json_records(&format!("\n\n{GOOD}"))[0].0, 3);
    }

    #[test]
    fn ndjson_lines_are_numbered_and_blank_lines_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wire.ndjson");
        std::fs::write(&path, format!("{GOOD}\n\nnot json\n")).unwrap();
        let mut seen = Vec::new();
        read_file(&path, |at, record, _| seen.push((at.line, record.is_ok()))).unwrap();
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
