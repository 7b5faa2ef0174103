//! HTTPS: rustls on the listening sockets, with certificates that can be replaced without a
//! restart.
//!
//! The crypto is rustls' `ring` provider: it is the one already in the tree (reqwest's rustls
//! uses it), so HTTPS adds no second TLS stack and no C/CMake build (`aws-lc-rs` would add
//! `aws-lc-sys`). Only TLS 1.3 and 1.2 are offered, with rustls' default cipher suites (all
//! AEAD with forward secrecy); ALPN offers `h2` first, then `http/1.1`.
//!
//! The certificate chain and its key are read from PEM files and held by [`Certificates`], the
//! resolver every handshake asks. [`watch`] reads them again when either file changes (their
//! size, modification time or inode, looked at every [`WATCH_EVERY`]) and on SIGHUP (through
//! [`crate::reload`], which the partners file shares); a new
//! pair that does not load (unreadable, not PEM, a key that does not match the certificate) is
//! logged and the pair in use is kept, so a renewal written one file at a time, or a mistake,
//! never takes the site down. A handshake already under way keeps the certificate it started
//! with; every connection that starts after a reload gets the new one.
//!
//! Under TLS the bodies are encrypted in user space, so cached bodies are written through
//! rustls like any other bytes and `sendfile(2)` (see [`super::sendfile`]) is not used; kernel
//! TLS (kTLS) would be the way to get it back.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hyper::header::HeaderValue;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::reload::{Reloadable, Stamp};

/// How often the certificate files are looked at for a change.
pub(crate) const WATCH_EVERY: Duration = Duration::from_secs(5);

/// Sessions remembered for resumption (TLS 1.2 session ids; TLS 1.3 uses tickets).
const SESSION_CACHE: usize = 4096;

/// What the HTTPS listener needs: the acceptor, the certificates behind it, and the HSTS header
/// to add to every response, when configured.
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) certificates: Arc<Certificates>,
    pub(crate) hsts: Option<HeaderValue>,
}

impl Tls {
    /// Loads the certificate chain and key (refusing a pair that does not load, or a key that
    /// does not match) and builds the server configuration. `hsts_max_age`, when given, is sent
    /// as `Strict-Transport-Security: max-age=N; includeSubDomains` on every response.
    pub(crate) fn new(cert: &Path, key: &Path, hsts_max_age: Option<u64>) -> Result<Self, String> {
        let certificates = Arc::new(Certificates::load(cert, key)?);
        let config = server_config(Arc::clone(&certificates) as Arc<dyn ResolvesServerCert>)?;
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificates,
            hsts: hsts_max_age.map(hsts),
        })
    }
}

/// The `Strict-Transport-Security` value for `max_age` seconds.
pub(crate) fn hsts(max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("max-age={max_age}; includeSubDomains")).expect("ASCII")
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 and 1.2 only, no client certificates, ALPN `h2` then `http/1.1`, the certificate
/// from `resolver` at every handshake.
fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Result<ServerConfig, String> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
    config.ticketer = rustls::crypto::ring::Ticketer::new()
        .map_err(|e| format!("cannot set up TLS session tickets: {e}"))?;
    Ok(config)
}

/// The versions the server accepts, for tests.
#[cfg(test)]
fn protocol_versions() -> Vec<rustls::ProtocolVersion> {
    [&rustls::version::TLS13, &rustls::version::TLS12]
        .iter()
        .map(|v| v.version)
        .collect()
}

/// The certificate chain and key in use, and where they come from.
pub(crate) struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files as last tried (loaded or not), so a bad pair is reported once, not every
    /// few seconds.
    tried: Mutex<(Option<Stamp>, Option<Stamp>)>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

impl Certificates {
    /// Loads the pair, or says what is wrong with it.
    pub(crate) fn load(cert: &Path, key: &Path) -> Result<Self, String> {
        let stamps = (Stamp::of(cert), Stamp::of(key));
        let loaded = load_pair(cert, key)?;
        Ok(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(Arc::new(loaded)),
            tried: Mutex::new(stamps),
        })
    }
}

impl Reloadable for Certificates {
    fn what(&self) -> &'static str {
        "the TLS certificate files"
    }

    /// Reads the pair again if either file changed since it was last tried, or always when
    /// `force`d (SIGHUP). Returns whether a new pair is in use; a pair that does not load is
    /// logged and the one in use kept.
    fn reload(&self, force: bool) -> bool {
        let stamps = (Stamp::of(&self.cert), Stamp::of(&self.key));
        {
            let mut tried = self.tried.lock().unwrap_or_else(|e| e.into_inner());
            if !force && *tried == stamps {
                return false;
            }
            *tried = stamps;
        }
        match load_pair(&self.cert, &self.key) {
            Ok(loaded) => {
                let chain = loaded.cert.len();
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
                tracing::info!(
                    cert = %self.cert.display(),
                    chain,
                    "loaded a new TLS certificate; new connections use it"
                );
                true
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "the TLS certificate files changed but do not load; still serving the previous certificate"
                );
                false
            }
        }
    }
}

/// Reads a PEM certificate chain (end-entity first) and its PEM private key (PKCS#8, PKCS#1 or
/// SEC1), and checks that the key is the certificate's.
pub(crate) fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain = read_chain(cert)?;
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => format!(
            "tls_key: {} holds no private key (expected a PEM block such as -----BEGIN PRIVATE KEY-----)",
            key.display()
        ),
        e => format!("tls_key: cannot read {}: {}", key.display(), pem_error(&e)),
    })?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => format!(
            "tls_key: the key in {} is not the key of the certificate in {} (give the key the certificate was issued for, e.g. certbot's privkey.pem with fullchain.pem)",
            key.display(),
            cert.display()
        ),
        e => format!(
            "tls_cert/tls_key: {} and {} do not make a usable pair: {e}",
            cert.display(),
            key.display()
        ),
    })
}

fn read_chain(cert: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|items| items.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "tls_cert: cannot read {}: {}",
                cert.display(),
                pem_error(&e)
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "tls_cert: {} holds no certificate (expected PEM blocks -----BEGIN CERTIFICATE-----, the server's first, e.g. certbot's fullchain.pem)",
            cert.display()
        ));
    }
    // The end-entity certificate must parse as X.509; the key check above relies on it.
    rustls::server::ParsedCertificate::try_from(&chain[0]).map_err(|e| {
        format!(
            "tls_cert: the first certificate in {} is not a valid X.509 certificate: {e}",
            cert.display()
        )
    })?;
    Ok(chain)
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(e) => e.to_string(),
        e => format!("not valid PEM ({e:?})"),
    }
}

/// Reloads `certificates` when their files change (looked at every [`WATCH_EVERY`]) and on
/// every SIGHUP, for the life of the process (see [`crate::reload::watch`]).
pub(crate) fn watch(certificates: Arc<Certificates>) -> std::io::Result<()> {
    crate::reload::watch(certificates, WATCH_EVERY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tls_1_2_and_1_3_are_offered() {
        let versions = protocol_versions();
        assert_eq!(
            versions,
            vec![
                rustls::ProtocolVersion::TLSv1_3,
                rustls::ProtocolVersion::TLSv1_2
            ]
        );
    }

    #[test]
    fn hsts_names_the_age_and_subdomains() {
        assert_eq!(hsts(31_536_000), "max-age=31536000; includeSubDomains");
    }

    #[test]
    fn missing_and_empty_files_are_refused_with_the_key_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let missing = dir.path().join("missing.pem");
        let e = load_pair(&missing, &empty).unwrap_err();
        assert!(e.starts_with("tls_cert: cannot read"), "{e}");
        let e = load_pair(&empty, &empty).unwrap_err();
        assert!(e.contains("holds no certificate"), "{e}");
    }
}
