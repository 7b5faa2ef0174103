//! The renderers: whatever story validation accepts, every feed format must come out
//! well-formed (XML parses to the end, JSON parses) — never a panic or a broken document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirefeed::catalog::Catalog;
use wirefeed::model::{ArticleDraft, FeedFormat};
use wirefeed::render::{self, FeedDoc};
use wirefeed::site::Site;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Free text goes into every text field of an otherwise valid story.
    let mut parts = text.splitn(5, '\u{1}');
    let mut field = || parts.next().map(str::to_owned);
    let draft = ArticleDraft {
        id: Some("fuzz-1".into()),
        title: field().or(Some("t".into())),
        summary: field(),
        content_html: field().or(Some("<p>x</p>".into())),
        byline: field().into_iter().collect(),
        dateline: field(),
        categories: vec!["world".into()],
        published: Some("2026-11-25T08:00:00Z".into()),
        ..ArticleDraft::default()
    };
    let Ok(article) = draft.validate() else {
        return;
    };
    let site = Site::new(
        "https://wire.example.com",
        "Wirefeed",
        "wire.example.com,2026",
    );
    let def = Catalog::empty("Wirefeed").feed("all", |_| false).unwrap();
    let articles = [article];
    let doc = FeedDoc {
        site: &site,
        def: &def,
        articles: &articles,
        deleted: &[],
        history: &wirefeed::render::NO_HISTORY,
        updated: None,
        brand: None,
    };
    for format in FeedFormat::ALL {
        let bytes = render::feed(format, &doc).expect("renders");
        match format {
            FeedFormat::Json => {
                serde_json::from_slice::<serde_json::Value>(&bytes).expect("valid JSON");
            }
            _ => {
                let mut reader = quick_xml::Reader::from_reader(&bytes[..]);
                let mut buf = Vec::new();
                loop {
                    match reader.read_event_into(&mut buf) {
                        Ok(quick_xml::events::Event::Eof) => break,
                        Ok(_) => buf.clear(),
                        Err(e) => panic!("{format:?} is not well-formed: {e}"),
                    }
                }
            }
        }
    }
});
