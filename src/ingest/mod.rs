//! Getting stories in. [`publish`] is the one write path every story takes — from the ingest
//! API, from article files (`wirefeed import`, [`import`]) and from the sample wire loaded on
//! first start ([`sample`]); [`schedule`] releases embargoed stories at their lift time
//! through it; [`ninjs`] maps IPTC ninjs documents to drafts, [`files`] reads article files
//! and [`progress`] reports an import as it goes. Nothing here renders or serves.

pub mod files;
pub mod import;
pub mod ninjs;
pub(crate) mod progress;
pub mod publish;
pub(crate) mod sample;
pub(crate) mod schedule;
