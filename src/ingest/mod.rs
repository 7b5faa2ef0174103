//! Getting stories in: reading article files (`wirefeed import`, the sample wire loaded on
//! first start) and writing them to the store in batches. The HTTP ingest API will live here
//! too. Every story goes through the model's validation; nothing here renders or serves.

pub mod files;
pub mod import;
pub mod ninjs;
pub mod progress;
pub mod sample;
