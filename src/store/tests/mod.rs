//! The store's test suites, one per concern ([`articles`], [`held`], [`subscriptions`],
//! [`audience`], [`usage`]),
//! each run against both backends: every test is a function of a `&dyn` of its concern's
//! trait, instantiated by [`suite!`] once on a fresh SQLite file and once on a fresh PostgreSQL
//! schema (see [`pg`]). On a machine where PostgreSQL is not reachable the PostgreSQL copies
//! pass without running and say so once on stderr.

use crate::model::{Article, ArticleDraft, Category};

/// Instantiates each named suite test of the enclosing module for SQLite and for PostgreSQL.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("wire.sqlite3")).unwrap();
                    super::$name(&store).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(schema) = crate::store::tests::pg::FreshSchema::create().await else { return };
                    super::$name(&schema.open().await).await;
                }
            )*
        }
    };
}

mod articles;
mod audience;
mod held;
pub mod pg;
mod subscriptions;
mod urgency;
mod usage;

pub fn story(id: &str, categories: &[&str], published: &str) -> Article {
    ArticleDraft {
        id: Some(id.into()),
        title: Some(format!("Story {id}")),
        summary: Some("Summary.".into()),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        published: Some(published.into()),
        ..ArticleDraft::default()
    }
    .validate()
    .unwrap()
}

pub fn category(slug: &str) -> Category {
    Category::parse(slug).unwrap()
}

pub fn ids(articles: &[Article]) -> Vec<&str> {
    articles.iter().map(|a| a.id.as_str()).collect()
}
