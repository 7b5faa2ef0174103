//! Who a document is for, applied to the stories read: a partner's entitlement (full or
//! headlines per category), the held stories a partner who sees embargoes early is shown, and
//! the headlines-only cut readers ask for with `?content=headlines`.

use super::FeedCache;
use crate::model::{Article, Entitlement, Level, Selection};
use crate::store::{MAX_HELD, StoreError, released};

impl FeedCache {
    /// The held stories of `selection`, for views that see embargoed stories before their
    /// lift: each keeps its `embargo` (which every format marks) and its title says so.
    pub(super) async fn held(&self, selection: &Selection) -> Result<Vec<Article>, StoreError> {
        let mut held = self.store.held_in(selection, MAX_HELD).await?;
        if let Selection::Urgent(level) = selection {
            held.retain(|story| story.is_urgent(*level));
        }
        Ok(held
            .iter()
            .filter_map(|story| {
                let lift = story.embargo?;
                // Dated as it will be published (the release's own rule), so readers place it
                // where it will stand; still marked as held.
                let mut shown = released(story);
                shown.embargo = Some(lift);
                shown.title = format!(
                    "EMBARGOED until {}: {}",
                    lift.format("%Y-%m-%d %H:%M:%S UTC"),
                    shown.title
                );
                Some(shown)
            })
            .collect())
    }
}

/// The stories a partner view shows, each at its level: a story only entitled as headlines
/// keeps its title, summary and link, and loses its text and images.
pub(super) fn entitled(view: &Entitlement, articles: Vec<Article>) -> Vec<Article> {
    articles
        .into_iter()
        .filter_map(|mut article| match view.level_of(&article.categories)? {
            Level::Full => Some(article),
            Level::Headlines => {
                headline_only(&mut article);
                Some(article)
            }
        })
        .collect()
}

/// A story cut to its headline: title, summary and link, no text and no images.
pub(super) fn headline_only(article: &mut Article) {
    article.content_html = None;
    article.images.clear();
}
