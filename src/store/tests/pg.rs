//! A fresh PostgreSQL schema per test, on the real server of this machine
//! (`WIREFEED_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`), dropped
//! when the test ends.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::store::postgres::PostgresStore;

pub fn url() -> String {
    std::env::var("WIREFEED_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema no other test uses; dropped (with everything in it) on drop.
pub struct FreshSchema {
    pub name: String,
}

impl FreshSchema {
    /// `None`, after saying once on stderr why, when PostgreSQL cannot be reached.
    pub async fn create() -> Option<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        static UNREACHABLE: OnceLock<Option<String>> = OnceLock::new();
        let url = url();
        if let Some(Some(_)) = UNREACHABLE.get() {
            return None;
        }
        let config: tokio_postgres::Config = url.parse().expect("a valid test URL");
        match config.connect(tokio_postgres::NoTls).await {
            Ok((_client, connection)) => drop(connection),
            Err(e) => {
                // CI machines start PostgreSQL before the tests: there, skipping would hide a
                // failure.
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true but PostgreSQL at {url} is unreachable: {e}"
                );
                let why =
                    UNREACHABLE.get_or_init(|| Some(crate::store::StoreError::from(e).to_string()));
                if let Some(why) = why {
                    // Written past the test harness's capture so that it shows in `cargo test`.
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "SKIPPED: PostgreSQL store tests did not run: cannot connect to {url} ({why}). \
                         Start PostgreSQL or set WIREFEED_TEST_POSTGRES_URL."
                    );
                }
                return None;
            }
        }
        let name = format!(
            "wf_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_subsec_nanos()
        );
        Some(Self { name })
    }

    pub async fn open(&self) -> PostgresStore {
        PostgresStore::open(&url(), &self.name)
            .await
            .expect("the store opens on a fresh schema")
    }
}

impl Drop for FreshSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, so the clean-up gets a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let config: tokio_postgres::Config = url().parse().unwrap();
                if let Ok((client, connection)) = config.connect(tokio_postgres::NoTls).await {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!(
                            "SET client_min_messages TO warning; DROP SCHEMA IF EXISTS {name} CASCADE"
                        ))
                        .await;
                }
            });
        })
        .join();
    }
}
