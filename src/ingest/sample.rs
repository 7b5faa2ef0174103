//! The sample wire shipped in the repo (`sample/wire.json`) and built into the binary, so that
//! a newcomer's first `wirefeed serve` has real-looking feeds to subscribe to.

use super::files::json_records;
use super::publish::Desk;
use crate::model::Article;
use crate::store::{ImportCounts, StoreError};

const WIRE: &str = include_str!("../../sample/wire.json");

/// Every story of the sample wire, or the first problem found (a bug in the repo).
pub(crate) fn articles() -> Result<Vec<Article>, String> {
    json_records(WIRE)
        .into_iter()
        .map(|(line, record)| record.map_err(|reason| format!("sample/wire.json:{line}: {reason}")))
        .collect()
}

/// Loads the sample wire into a store that has never been written to. Returns `None` when the
/// store already had history (even if every story in it has since been killed).
pub(crate) async fn load_if_empty(desk: &Desk) -> Result<Option<ImportCounts>, StoreError> {
    if desk.store().last_change().await?.is_some() {
        return Ok(None);
    }
    let articles = articles().map_err(StoreError::Corrupt)?;
    desk.import(articles).await.map(Some)
}
