//! Routing: which resource a request names, and what HTTP makes of it. The URL scheme itself
//! (which paths exist, the slug rule, `?page=N`) is [`crate::site::Path`]'s; this module only
//! names routes for the metrics and says which are pages and which answer before start-up.

use hyper::{Method, Uri};

use crate::model::Part;
pub(crate) use crate::site::Path;

/// What a request names: a path of the site, or nothing (404).
pub(crate) type Route = Option<Path>;

/// The resource `uri` names. Other query parameters than `page` are ignored, so
/// `/feeds/world.rss?utm_source=x` is the same feed.
pub(crate) fn route(uri: &Uri) -> Route {
    Path::parse(uri.path(), uri.query())
}

/// The route's name in metrics.
pub(crate) fn name(route: &Route) -> &'static str {
    let Some(path) = route else {
        return "not_found";
    };
    match path {
        Path::Home => "index",
        Path::Category(_) => "category",
        Path::Article(_) => "article",
        Path::Feed {
            part: Part::Archive(_),
            ..
        } => "feed_archive",
        Path::Feed { .. } => "feed",
        Path::Opml => "opml",
        Path::Hub => "hub",
        Path::Health => "health",
        Path::Ready => "ready",
        Path::Metrics => "metrics",
        Path::Api(_) => "api",
        Path::Stats => "stats",
        Path::Changes => "changes",
        Path::Admin => "admin",
        Path::Favicon => "favicon",
        Path::Stylesheet => "stylesheet",
        Path::Robots => "robots",
        Path::Sitemap => "sitemap",
        Path::NewsSitemap => "news_sitemap",
    }
}

/// Whether `method` is one this server knows: those of RFC 9110 §9 and PATCH. Any other is
/// implemented by none of its resources (a 501 wherever it is sent, §15.6.2); a known method a
/// resource does not allow is a 405 there.
pub(crate) fn is_known(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET
            | Method::HEAD
            | Method::POST
            | Method::PUT
            | Method::DELETE
            | Method::CONNECT
            | Method::OPTIONS
            | Method::TRACE
            | Method::PATCH
    )
}

/// Whether errors are answered as an HTML page (for people) rather than a problem document.
pub(crate) fn is_page(route: &Route) -> bool {
    matches!(
        route,
        Some(Path::Home | Path::Category(_) | Path::Article(_))
    )
}

/// Whether the route answers before start-up has finished: liveness, readiness, metrics.
pub(crate) fn answers_while_starting(route: &Route) -> bool {
    matches!(route, Some(Path::Health | Path::Ready | Path::Metrics))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FeedFormat;

    fn at(uri: &str) -> Route {
        route(&uri.parse().unwrap())
    }

    #[test]
    fn the_query_is_read_for_pages_and_otherwise_ignored() {
        let feed = |part| {
            Some(Path::Feed {
                slug: crate::model::Category::parse("world").unwrap(),
                format: FeedFormat::Rss,
                part,
            })
        };
        assert_eq!(at("/feeds/world.rss?utm_source=x"), feed(Part::Current));
        assert_eq!(at("/feeds/world.rss?page=3"), feed(Part::Page(3)));
        assert_eq!(at("/feeds/world.rss?page=0"), None);
        assert_eq!(
            name(&at("/feeds/world/archive/2026-11-24.rss")),
            "feed_archive"
        );
        assert_eq!(name(&at("/feeds/World.rss")), "not_found");
        assert!(is_page(&at("/categories/world")));
        assert!(!is_page(&at("/feeds/world.rss")));
        assert!(answers_while_starting(&at("/readyz")));
    }

    #[test]
    fn the_standard_methods_are_known_and_others_are_not() {
        for known in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH",
        ] {
            assert!(
                is_known(&Method::from_bytes(known.as_bytes()).unwrap()),
                "{known}"
            );
        }
        for unknown in ["FOO", "PROPFIND", "get"] {
            assert!(
                !is_known(&Method::from_bytes(unknown.as_bytes()).unwrap()),
                "{unknown}"
            );
        }
    }
}
