//! The ingest parsers: any bytes as an article (JSON body), as an IPTC ninjs document, or as a
//! file of articles (JSON array or NDJSON) must give an article or field errors — never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirefeed::ingest::files::json_records;
use wirefeed::ingest::ninjs;
use wirefeed::model::Article;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(article) = Article::from_json(text) {
            // What validation accepts must survive the store's round trip unchanged.
            let stored =
                Article::from_stored_json(&article.to_json()).expect("stored JSON reads back");
            assert_eq!(stored, article);
        }
        if let Ok(serde_json::Value::Object(doc)) = serde_json::from_str(text) {
            let now = chrono::DateTime::UNIX_EPOCH;
            if let Ok(mapped) = ninjs::to_draft(&doc, now) {
                if let Ok(article) = mapped.validate() {
                    let stored = Article::from_stored_json(&article.to_json())
                        .expect("stored JSON reads back");
                    assert_eq!(stored, article);
                }
            }
        }
        for (_, record) in json_records(text) {
            let _ = record;
        }
    }
});
