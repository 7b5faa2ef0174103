//! Routing: which resource a request path names. Pure string work on the path; the query
//! string is ignored, so `/feeds/world.rss?utm_source=x` is the same feed.

use crate::model::{ArticleId, FeedFormat, Part};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Index,
    Category(String),
    Article(ArticleId),
    /// A feed document: the subscription document or a day's archive (`?page=N` is read
    /// from the query by the handler).
    Feed {
        slug: String,
        format: FeedFormat,
        part: Part,
    },
    Opml,
    /// The built-in WebSub hub.
    Hub,
    Health,
    /// `/readyz`: whether this replica can serve everything.
    Ready,
    Metrics,
    /// `/api/stats`: readers per feed per day.
    Stats,
    /// `/admin`: the operator's page.
    Admin,
    /// `/api/articles` (None) or `/api/articles/{id}`; the id is checked by the API itself.
    Api(Option<String>),
    NotFound,
}

impl Route {
    /// The route's name in metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Index => "index",
            Route::Category(_) => "category",
            Route::Article(_) => "article",
            Route::Feed {
                part: Part::Archive(_),
                ..
            } => "feed_archive",
            Route::Feed { .. } => "feed",
            Route::Opml => "opml",
            Route::Hub => "hub",
            Route::Health => "health",
            Route::Ready => "ready",
            Route::Metrics => "metrics",
            Route::Api(_) => "api",
            Route::Stats => "stats",
            Route::Admin => "admin",
            Route::NotFound => "not_found",
        }
    }

    pub fn parse(path: &str) -> Self {
        match path {
            "/" => return Route::Index,
            "/feeds.opml" => return Route::Opml,
            "/healthz" => return Route::Health,
            "/readyz" => return Route::Ready,
            "/hub" => return Route::Hub,
            "/metrics" => return Route::Metrics,
            "/api/articles" => return Route::Api(None),
            "/api/stats" => return Route::Stats,
            "/admin" => return Route::Admin,
            _ => {}
        }
        if let Some(file) = path.strip_prefix("/feeds/") {
            let Some((name, ext)) = file.rsplit_once('.') else {
                return Route::NotFound;
            };
            let Some(format) = FeedFormat::from_extension(ext) else {
                return Route::NotFound;
            };
            let (slug, part) = match name.split_once("/archive/") {
                None => (name, Part::Current),
                Some((slug, day)) => {
                    match chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d") {
                        // Only the canonical spelling, so one archive has one URL.
                        Ok(date) if date.format("%Y-%m-%d").to_string() == day => {
                            (slug, Part::Archive(date))
                        }
                        _ => return Route::NotFound,
                    }
                }
            };
            return if slug.is_empty() || slug.contains('/') {
                Route::NotFound
            } else {
                Route::Feed {
                    slug: slug.to_owned(),
                    format,
                    part,
                }
            };
        }
        if let Some(slug) = path.strip_prefix("/categories/") {
            return if slug.is_empty() || slug.contains('/') {
                Route::NotFound
            } else {
                Route::Category(slug.to_owned())
            };
        }
        if let Some(id) = path.strip_prefix("/api/articles/") {
            return Route::Api(Some(id.to_owned()));
        }
        if let Some(id) = path.strip_prefix("/articles/") {
            return ArticleId::parse(id).map_or(Route::NotFound, Route::Article);
        }
        Route::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_paths_name_a_slug_and_a_format() {
        assert_eq!(
            Route::parse("/feeds/asia-pacific.atom"),
            Route::Feed {
                slug: "asia-pacific".into(),
                format: FeedFormat::Atom,
                part: Part::Current,
            }
        );
        assert_eq!(
            Route::parse("/feeds/world/archive/2026-11-24.rss"),
            Route::Feed {
                slug: "world".into(),
                format: FeedFormat::Rss,
                part: Part::Archive(chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()),
            }
        );
        assert_eq!(
            Route::parse("/feeds/world/archive/2026-11-4.rss"),
            Route::NotFound
        );
        assert_eq!(
            Route::parse("/feeds/world/archive/2026-02-30.rss"),
            Route::NotFound
        );
        assert_eq!(Route::parse("/feeds/world.xml"), Route::NotFound);
        assert_eq!(Route::parse("/feeds/.rss"), Route::NotFound);
        assert_eq!(Route::parse("/feeds/a/b.rss"), Route::NotFound);
    }

    #[test]
    fn page_paths() {
        assert_eq!(Route::parse("/"), Route::Index);
        assert_eq!(
            Route::parse("/categories/g20"),
            Route::Category("g20".into())
        );
        assert_eq!(
            Route::parse("/articles/xw-1"),
            Route::Article(ArticleId::parse("xw-1").unwrap())
        );
        assert_eq!(Route::parse("/articles/../etc/passwd"), Route::NotFound);
        assert_eq!(Route::parse("/categories/"), Route::NotFound);
    }
}
