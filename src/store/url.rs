//! Reading a PostgreSQL URL the way the store will, for the settings: whether it can be read,
//! and how to show it without its password. Kept in the store so that the driver's own
//! configuration type never leaves it.

/// What the store reads from a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PostgresUrl {
    /// The URL built back from its parsed parts, without any password:
    /// `postgres://user@host:port,host:port/database`.
    pub(crate) redacted: String,
    /// Whether it names at least one host.
    pub(crate) has_host: bool,
}

/// `None` when the store could not read `url` as a PostgreSQL URL.
pub(crate) fn read_postgres_url(url: &str) -> Option<PostgresUrl> {
    use std::fmt::Write;
    let parsed: tokio_postgres::Config = url.parse().ok()?;
    let mut out = String::from("postgres://");
    if let Some(user) = parsed.get_user() {
        let _ = write!(out, "{user}@");
    }
    let ports = parsed.get_ports();
    for (i, host) in parsed.get_hosts().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match host {
            tokio_postgres::config::Host::Tcp(name) => out.push_str(name),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => {
                let _ = write!(out, "{}", path.display());
            }
        }
        if let Some(port) = ports.get(i).or(ports.first()) {
            let _ = write!(out, ":{port}");
        }
    }
    if let Some(db) = parsed.get_dbname() {
        let _ = write!(out, "/{db}");
    }
    Some(PostgresUrl {
        redacted: out,
        has_host: !parsed.get_hosts().is_empty(),
    })
}
