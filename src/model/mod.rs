//! The shared words of wirefeed: the article and its validation, and every term more than one
//! layer uses — feed definitions, formats, documents, selections, changes, tombstones, codings.
//!
//! This module is the leaf of the dependency graph: it imports nothing else of wirefeed, never
//! does I/O and knows nothing of HTTP, storage or rendering.

mod article;
mod change;
mod coding;
mod draft;
mod feed;
pub(crate) mod sanitize;

pub use article::*;
pub use change::*;
pub use coding::*;
pub use draft::*;
pub use feed::*;
