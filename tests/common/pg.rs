//! PostgreSQL for the replica tests: the real server on this machine
//! (`WIREFEED_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`) and a
//! schema name no other test uses; the binary creates the schema, [`Schema`] drops it.

use std::sync::atomic::{AtomicU32, Ordering};

pub fn url() -> String {
    std::env::var("WIREFEED_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub async fn connect() -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(&url(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

pub struct Schema {
    pub name: String,
}

impl Schema {
    /// A fresh schema name, or `None` (said once on stderr) when PostgreSQL is unreachable.
    pub async fn fresh() -> Option<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        if let Err(e) = connect().await {
            // CI machines start PostgreSQL before the tests: there, skipping would hide a failure.
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but PostgreSQL at {} is unreachable: {e}",
                url()
            );
            use std::io::Write;
            // Past the harness's capture, so that `cargo test` shows it.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: replica tests did not run: cannot connect to PostgreSQL at {} ({e}: {}). \
                 Start PostgreSQL or set WIREFEED_TEST_POSTGRES_URL.",
                url(),
                std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            );
            return None;
        }
        let name = format!(
            "wf_it_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Some(Self { name })
    }

    /// The application name replica `replica` connects with, to find its backends.
    pub fn application_name(&self, replica: &str) -> String {
        format!("wirefeed-{replica}-{}", self.name)
    }

    /// Settings that put a server on this schema, under an application name of its own.
    pub fn configure<'a>(
        &'a self,
        replica: &'a str,
    ) -> impl FnOnce(&mut std::process::Command) + 'a {
        move |cmd| {
            cmd.env(
                "WIREFEED_STORE_URL",
                format!(
                    "{}?application_name={}",
                    url(),
                    self.application_name(replica)
                ),
            )
            .env("WIREFEED_STORE_SCHEMA", &self.name)
            .env("WIREFEED_PUBLIC_URL", "http://wire.test")
            .env("WIREFEED_TAG_AUTHORITY", "wire.test,2026");
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    if let Ok(client) = connect().await {
                        let _ = client
                            .batch_execute(&format!(
                                "SET client_min_messages TO warning; DROP SCHEMA IF EXISTS {name} CASCADE"
                            ))
                            .await;
                    }
                })
        })
        .join();
    }
}
