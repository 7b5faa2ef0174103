//! wirefeed — a syndication feed server for a news wire.
//!
//! A wire desk publishes stories into a [`store`]; wirefeed serves them as RSS 2.0, Atom 1.0
//! and JSON Feed 1.1 per category, with OPML and HTML pages for discovery. Data flows one way:
//! request → [`http`] → [`store`] + [`render`] → bytes → [`http`]. The store never knows about
//! HTTP, renderers never do I/O, and HTTP never builds XML. `docs/ARCHITECTURE.md` is the contract.

pub(crate) mod audience;
pub mod cache;
pub mod catalog;
pub(crate) mod changes;
pub mod cli;
pub(crate) mod config;
pub mod counter;
pub mod http;
pub mod ingest;
pub(crate) mod metrics;
pub mod model;
pub(crate) mod partners;
pub(crate) mod reload;
pub mod render;
pub(crate) mod shutdown;
pub mod site;
pub mod store;
pub(crate) mod websub;
