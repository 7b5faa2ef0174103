//! HTTPS: the real binary with a certificate made here (rcgen), spoken to by real TLS clients
//! (reqwest over rustls with the test CA as its only root, and tokio-rustls directly).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use reqwest::header;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A test CA that signs server certificates for 127.0.0.1 and localhost.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wirefeed test CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A new server certificate (and key): the chain PEM (server's, then the CA's), the key
    /// PEM, and the server certificate's DER.
    fn leaf(&self) -> (String, String, Vec<u8>) {
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            format!("{}{}", cert.pem(), self.pem()),
            key.serialize_pem(),
            cert.der().to_vec(),
        )
    }

    fn reqwest_root(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.pem().as_bytes()).unwrap()
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.issuer.der().to_vec()))
            .unwrap();
        roots
    }
}

/// Writes `text` to `path` the way certbot does: a new file renamed over the old one.
fn replace(path: &Path, text: &str) {
    let new = path.with_extension("new");
    std::fs::write(&new, text).unwrap();
    std::fs::rename(new, path).unwrap();
}

struct Https {
    child: Child,
    https: SocketAddr,
    redirect: Option<SocketAddr>,
    dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Https {
    /// Starts the binary serving HTTPS with a new certificate from `ca`, plus `settings`.
    fn start(ca: &Ca, settings: &[(&str, &str)]) -> (Self, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let (chain, key, der) = ca.leaf();
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, chain).unwrap();
        std::fs::write(&key_path, key).unwrap();
        let mut cmd = common::wirefeed(dir.path());
        cmd.env("WIREFEED_TLS_CERT", &cert_path)
            .env("WIREFEED_TLS_KEY", &key_path)
            .env("WIREFEED_LOG", "info");
        for (var, value) in settings {
            cmd.env(var, value);
        }
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut child = cmd
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = |scheme: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(scheme))
                .map(|a| {
                    a.trim_end_matches([',', ')'])
                        .parse::<SocketAddr>()
                        .unwrap()
                })
        };
        let https = address("https://").unwrap_or_else(|| {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            panic!("the server did not start: {line:?}\n{log}")
        });
        let server = Self {
            child,
            https,
            redirect: address("http://"),
            cert: cert_path,
            key: key_path,
            dir,
        };
        (server, der)
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.https)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn hang_up(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The certificate a new connection is given, and the protocol ALPN chose.
    async fn handshake(&self, ca: &Ca, alpn: &[&[u8]]) -> (Vec<u8>, Option<Vec<u8>>) {
        let stream = tls_connect(ca, self.https, alpn, None).await.unwrap();
        let (_, connection) = stream.get_ref();
        (
            connection.peer_certificates().unwrap()[0].to_vec(),
            connection.alpn_protocol().map(<[u8]>::to_vec),
        )
    }
}

impl Drop for Https {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn tls_connect(
    ca: &Ca,
    at: SocketAddr,
    alpn: &[&[u8]],
    version: Option<&'static rustls::SupportedProtocolVersion>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = match version {
        Some(v) => vec![v],
        None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .unwrap()
        .with_root_certificates(ca.roots())
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(at).await?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// A reqwest client trusting only the test CA; `http1` forces HTTP/1.1, else ALPN picks h2.
fn client(ca: &Ca, http1: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca.reqwest_root())
        .redirect(reqwest::redirect::Policy::none())
        .https_only(true);
    let builder = if http1 { builder.http1_only() } else { builder };
    builder.build().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn https_serves_http2_and_http11_with_every_behaviour_of_the_plain_listener() {
    let ca = Ca::new();
    let (server, _) = Https::start(&ca, &[("WIREFEED_HSTS_MAX_AGE", "600")]);
    for (http1, version) in [
        (false, reqwest::Version::HTTP_2),
        (true, reqwest::Version::HTTP_11),
    ] {
        let client = client(&ca, http1);
        let url = server.url("/feeds/all.atom");
        let full = client.get(&url).send().await.unwrap();
        assert_eq!(full.status(), 200);
        assert_eq!(full.version(), version);
        assert_eq!(
            full.headers()["strict-transport-security"],
            "max-age=600; includeSubDomains"
        );
        let etag = full.headers()[header::ETAG].clone();
        let length = full.headers()[header::CONTENT_LENGTH].clone();
        let body = full.bytes().await.unwrap();
        assert!(body.starts_with(b"<?xml"), "{version:?}");
        assert_eq!(length.to_str().unwrap(), body.len().to_string());

        // Conditional GET.
        let again = client
            .get(&url)
            .header(header::IF_NONE_MATCH, etag.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{version:?}");
        assert_eq!(again.headers()[header::ETAG], etag);
        assert!(again.bytes().await.unwrap().is_empty());

        // HEAD: GET's headers, no body.
        let head = client.head(&url).send().await.unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.version(), version);
        assert_eq!(head.headers()[header::ETAG], etag);
        assert_eq!(head.headers()[header::CONTENT_LENGTH], length);
        assert!(head.bytes().await.unwrap().is_empty());

        // A conditional HEAD: a 304 with no Content-Length, as GET's (RFC 9110 §8.6).
        let head = client
            .head(&url)
            .header(header::IF_NONE_MATCH, etag.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 304, "{version:?}");
        assert_eq!(
            head.headers().get(header::CONTENT_LENGTH),
            None,
            "{version:?}"
        );

        // gzip, decoded to the same bytes.
        let gzip = client
            .get(&url)
            .header(header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(gzip.status(), 200);
        assert_eq!(gzip.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(gunzip(&gzip.bytes().await.unwrap()), body);

        // Liveness and an unknown path behave as on plain HTTP.
        let health = client.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(health.text().await.unwrap(), "ok\n");
        let missing = client.get(server.url("/nowhere")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        assert!(missing.headers().contains_key("strict-transport-security"));
    }

    // The header limit holds over TLS: 431 for a head larger than max_header_bytes.
    let big = "x".repeat(70_000);
    let too_big = client(&ca, true)
        .get(server.url("/feeds/all.atom"))
        .header("x-filler", big)
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 431);

    // ALPN: h2 preferred, http/1.1 when that is all a client offers.
    let (_, alpn) = server.handshake(&ca, &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let (_, alpn) = server.handshake(&ca, &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));

    // TLS 1.3 and 1.2 are each accepted.
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let mut stream = tls_connect(&ca, server.https, &[b"http/1.1"], Some(version))
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}", version.version));
        assert_eq!(stream.get_ref().1.protocol_version(), Some(version.version));
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap_or_default();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

/// Reads `count` whole responses (each with a Content-Length) from `stream`, and nothing
/// more; returns each one's status line and body length.
async fn read_responses<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    count: usize,
) -> Vec<(String, usize)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut responses = Vec::new();
    let mut at = 0;
    while responses.len() < count {
        if let Some((status, length, total)) = common::whole_response(&got[at..]) {
            responses.push((status, length));
            at += total;
            continue;
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("a response within 5 s")
            .unwrap();
        assert!(n > 0, "closed before {count} whole responses");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(at, got.len(), "more than {count} responses");
    responses
}

async fn read_response<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> (String, usize) {
    read_responses(stream, 1).await.remove(0)
}

/// An HTTP/1.1 connection over TLS waiting between requests is parked (hyper's state and
/// buffers dropped, the TLS session kept): whatever comes next on it is served as before.
#[tokio::test]
async fn a_kept_alive_tls_connection_is_served_again_after_waiting_between_requests() {
    const GET: &[u8] = b"GET /feeds/all.atom HTTP/1.1\r\nHost: localhost\r\n\r\n";
    // Several times the server's parking delay.
    const WAIT: Duration = Duration::from_millis(400);
    let ca = Ca::new();
    let (server, _) = Https::start(&ca, &[]);
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let mut stream = tls_connect(&ca, server.https, &[b"http/1.1"], Some(version))
            .await
            .unwrap();
        stream.write_all(GET).await.unwrap();
        let (status, length) = read_response(&mut stream).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        for round in 0..2 {
            tokio::time::sleep(WAIT).await;
            stream.write_all(GET).await.unwrap();
            assert_eq!(
                read_response(&mut stream).await,
                (status.clone(), length),
                "{version:?}, after wait {round}"
            );
        }
        // A head split across a wait, then two requests in one write.
        tokio::time::sleep(WAIT).await;
        stream.write_all(&GET[..20]).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        stream.write_all(&GET[20..]).await.unwrap();
        assert_eq!(read_response(&mut stream).await.0, status);
        tokio::time::sleep(WAIT).await;
        stream.write_all(&[GET, GET].concat()).await.unwrap();
        assert_eq!(
            read_responses(&mut stream, 2).await,
            vec![(status.clone(), length); 2],
            "{version:?}"
        );
        // A slow reader: the response lies unread across several parking delays.
        tokio::time::sleep(WAIT).await;
        stream.write_all(GET).await.unwrap();
        tokio::time::sleep(WAIT).await;
        assert_eq!(read_response(&mut stream).await, (status.clone(), length));
    }
}

/// A parked TLS connection closed by the keep-alive timeout says so (`close_notify`), as an
/// idle one closed by hyper does: the client sees a clean end, not an unexpected EOF.
#[tokio::test]
async fn a_parked_tls_connection_is_closed_with_close_notify() {
    let ca = Ca::new();
    let (server, _) = Https::start(&ca, &[("WIREFEED_KEEP_ALIVE_TIMEOUT_SECS", "1")]);
    let mut stream = tls_connect(&ca, server.https, &[b"http/1.1"], None)
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut stream).await.0, "HTTP/1.1 200 OK");
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("closed within the keep-alive timeout");
    assert_eq!(ended.unwrap(), 0, "a clean close, after nothing more");
}

/// A TLS 1.1 ClientHello (rustls cannot send one): the server answers with an alert, never a
/// ServerHello.
#[test]
fn tls_1_1_and_older_are_refused() {
    let ca = Ca::new();
    let (server, _) = Https::start(&ca, &[]);
    for legacy in [[3u8, 2], [3, 1]] {
        let mut hello = Vec::new();
        hello.extend_from_slice(&legacy); // client_version: TLS 1.1, then 1.0
        hello.extend_from_slice(&[7u8; 32]); // random
        hello.push(0); // no session id
        let suites: [u8; 6] = [0xc0, 0x13, 0xc0, 0x09, 0x00, 0x2f];
        hello.extend_from_slice(&(suites.len() as u16).to_be_bytes());
        hello.extend_from_slice(&suites);
        hello.extend_from_slice(&[1, 0]); // null compression
        let mut handshake = vec![1u8, 0];
        handshake.extend_from_slice(&(hello.len() as u16).to_be_bytes());
        handshake.extend_from_slice(&hello);
        let mut record = vec![0x16, 3, 1];
        record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
        record.extend_from_slice(&handshake);

        let mut tcp = std::net::TcpStream::connect(server.https).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tcp.write_all(&record).unwrap();
        let mut answer = [0u8; 7];
        tcp.read_exact(&mut answer).unwrap();
        assert_eq!(
            answer[0], 0x15,
            "an alert record, not a handshake: {answer:?}"
        );
        // Fatal: protocol_version or handshake_failure.
        assert_eq!(answer[5], 2, "a fatal alert: {answer:?}");
        assert!([40, 70].contains(&answer[6]), "{answer:?}");
    }
}

#[tokio::test]
async fn the_redirect_listener_sends_everything_to_https_but_health_and_acme() {
    let ca = Ca::new();
    let acme = tempfile::tempdir().unwrap();
    let challenges = acme.path().join(".well-known/acme-challenge");
    std::fs::create_dir_all(&challenges).unwrap();
    std::fs::write(challenges.join("tok_EN-1"), "tok_EN-1.thumbprint").unwrap();
    let (server, _) = Https::start(
        &ca,
        &[
            ("WIREFEED_REDIRECT_LISTEN", "127.0.0.1:0"),
            ("WIREFEED_ACME_DIR", acme.path().to_str().unwrap()),
            ("WIREFEED_HSTS_MAX_AGE", "600"),
        ],
    );
    let plain = server.redirect.expect("the redirect listener's address");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let moved = client
        .get(format!("http://{plain}/feeds/all.atom?page=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 308);
    assert_eq!(
        moved.headers()[header::LOCATION],
        format!(
            "https://127.0.0.1:{}/feeds/all.atom?page=2",
            server.https.port()
        )
    );
    assert!(!moved.headers().contains_key("strict-transport-security"));
    // The host is the one the client asked for; a POST is redirected too (308 keeps it).
    let posted = client
        .post(format!("http://{plain}/api/articles"))
        .header(header::HOST, "wire.example.com")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 308);
    assert_eq!(
        posted.headers()[header::LOCATION],
        format!(
            "https://wire.example.com:{}/api/articles",
            server.https.port()
        )
    );

    let health = client
        .get(format!("http://{plain}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok\n");

    let challenge = client
        .get(format!(
            "http://{plain}/.well-known/acme-challenge/tok_EN-1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 200);
    assert_eq!(challenge.text().await.unwrap(), "tok_EN-1.thumbprint");
    for missing in ["nope", "..%2F..%2Fcert.pem", "a.b"] {
        let r = client
            .get(format!(
                "http://{plain}/.well-known/acme-challenge/{missing}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{missing}");
    }

    // Following the redirect lands on the HTTPS feed.
    let followed = reqwest::Client::builder()
        .add_root_certificate(ca.reqwest_root())
        .build()
        .unwrap()
        .get(format!("http://{plain}/feeds/all.atom"))
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), 200);
    assert_eq!(followed.url().scheme(), "https");
}

/// Waits until a new connection is given `expected`, or fails after `limit`.
async fn wait_for_certificate(server: &Https, ca: &Ca, expected: &[u8], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let (got, _) = server.handshake(ca, &[b"http/1.1"]).await;
        if got == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served within {limit:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn certificates_are_replaced_on_sighup_and_on_change_and_a_bad_pair_is_ignored() {
    let ca = Ca::new();
    let (server, first) = Https::start(&ca, &[]);
    let (got, _) = server.handshake(&ca, &[b"h2"]).await;
    assert_eq!(got, first);

    // A renewal, then SIGHUP: new connections get the new certificate.
    let (chain, key, second) = ca.leaf();
    replace(&server.key, &key);
    replace(&server.cert, &chain);
    server.hang_up();
    wait_for_certificate(&server, &ca, &second, Duration::from_secs(10)).await;
    // ... and requests over them work.
    let ok = client(&ca, false)
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    // A key that is not the certificate's: logged, and the certificate in use kept.
    let (_, other_key, _) = ca.leaf();
    replace(&server.key, &other_key);
    server.hang_up();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("do not load") {
        assert!(Instant::now() < deadline, "no warning\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.log().contains("is not the key of the certificate"));
    let (got, _) = server.handshake(&ca, &[b"h2"]).await;
    assert_eq!(got, second);

    // Garbage in the certificate file: the same.
    std::fs::write(&server.cert, "not a certificate").unwrap();
    server.hang_up();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("holds no certificate") {
        assert!(Instant::now() < deadline, "no warning\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (got, _) = server.handshake(&ca, &[b"h2"]).await;
    assert_eq!(got, second);

    // A good pair written without a signal is picked up by the file watch.
    let (chain, key, third) = ca.leaf();
    replace(&server.key, &key);
    replace(&server.cert, &chain);
    wait_for_certificate(&server, &ca, &third, Duration::from_secs(20)).await;
}

#[test]
fn check_loads_the_pair_and_refuses_what_serve_would() {
    let ca = Ca::new();
    let dir = tempfile::tempdir().unwrap();
    let (chain, key, _) = ca.leaf();
    let (_, other_key, _) = ca.leaf();
    let cert = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    let other = dir.path().join("other.pem");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&cert, chain).unwrap();
    std::fs::write(&key_path, key).unwrap();
    std::fs::write(&other, other_key).unwrap();
    std::fs::write(&junk, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    let check = |settings: &[(&str, &Path)], extra: &[(&str, &str)]| {
        let mut cmd = common::wirefeed(dir.path());
        for (var, value) in settings {
            cmd.env(var, value);
        }
        for (var, value) in extra {
            cmd.env(var, value);
        }
        let out = cmd.arg("check").output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let good = [
        ("WIREFEED_TLS_CERT", cert.as_path()),
        ("WIREFEED_TLS_KEY", &key_path),
    ];
    let (ok, err) = check(&good, &[("WIREFEED_HSTS_MAX_AGE", "60")]);
    assert!(ok, "{err}");

    type Case<'a> = (Vec<(&'a str, &'a Path)>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("WIREFEED_TLS_CERT", &cert), ("WIREFEED_TLS_KEY", &other)],
            vec![],
            "is not the key of the certificate",
        ),
        (vec![("WIREFEED_TLS_CERT", &cert)], vec![], "tls_key is not"),
        (
            vec![
                ("WIREFEED_TLS_CERT", &junk),
                ("WIREFEED_TLS_KEY", &key_path),
            ],
            vec![],
            "tls_cert: cannot read",
        ),
        (
            vec![
                ("WIREFEED_TLS_CERT", &key_path),
                ("WIREFEED_TLS_KEY", &key_path),
            ],
            vec![],
            "holds no certificate",
        ),
        (
            vec![("WIREFEED_TLS_CERT", &cert), ("WIREFEED_TLS_KEY", &cert)],
            vec![],
            "holds no private key",
        ),
        (
            vec![],
            vec![("WIREFEED_REDIRECT_LISTEN", "127.0.0.1:0")],
            "redirect_listen redirects to HTTPS",
        ),
        (
            vec![],
            vec![("WIREFEED_HSTS_MAX_AGE", "60")],
            "hsts_max_age is sent on HTTPS responses only",
        ),
    ];
    for (settings, extra, expected) in cases {
        let (ok, err) = check(&settings, &extra);
        assert!(!ok && err.contains(expected), "{expected}: {err}");
    }
    // serve refuses the same, before listening.
    let out = common::wirefeed(dir.path())
        .env("WIREFEED_TLS_CERT", &cert)
        .env("WIREFEED_TLS_KEY", &other)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not the key of the certificate"));
}

/// Reads until the server closes the connection, or fails after `limit`.
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(
    what: &str,
    stream: &mut S,
    limit: Duration,
) {
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{what}: still open after {limit:?}");
}

#[tokio::test]
async fn slow_handshakes_and_http2_headers_that_never_come_are_cut_off() {
    let ca = Ca::new();
    let (server, _) = Https::start(&ca, &[("WIREFEED_HEADER_READ_TIMEOUT_SECS", "1")]);
    let limit = Duration::from_secs(6);

    // A TCP connection that never starts its handshake.
    let mut silent = tokio::net::TcpStream::connect(server.https).await.unwrap();
    closed_within("no handshake", &mut silent, limit).await;

    // HTTP/2: the preface and SETTINGS, then nothing (an idle connection).
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
    let mut idle = tls_connect(&ca, server.https, &[b"h2"], None)
        .await
        .unwrap();
    idle.write_all(PREFACE).await.unwrap();
    idle.write_all(SETTINGS).await.unwrap();
    closed_within("idle h2", &mut idle, limit).await;

    // HTTP/2: a HEADERS frame without END_HEADERS, whose CONTINUATION never comes.
    let mut slow = tls_connect(&ca, server.https, &[b"h2"], None)
        .await
        .unwrap();
    slow.write_all(PREFACE).await.unwrap();
    slow.write_all(SETTINGS).await.unwrap();
    // HEADERS, stream 1, END_STREAM only; one header byte: :method GET (static index 2).
    slow.write_all(&[0, 0, 1, 1, 0x01, 0, 0, 0, 1, 0x82])
        .await
        .unwrap();
    closed_within("h2 headers without end", &mut slow, Duration::from_secs(15)).await;

    // HTTP/1.1 over TLS: a request head that never ends.
    let mut trickle = tls_connect(&ca, server.https, &[b"http/1.1"], None)
        .await
        .unwrap();
    trickle
        .write_all(b"GET /feeds/all.atom HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    closed_within("h1 head without end", &mut trickle, limit).await;

    // And the server still serves.
    let ok = client(&ca, false)
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}
