//! A TCP proxy on 127.0.0.1 between wirefeed and PostgreSQL that can misbehave on demand:
//! stall every connection (bytes stop flowing both ways, sockets stay open, new connections
//! are accepted and stall too), drop every connection (as a database restart does), and
//! refuse new ones (as a database that is down does: accepted and closed at once).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Stall,
    Refuse,
}

pub struct Proxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    /// A proxy to `upstream`, passing bytes through until told otherwise.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Pass);
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = tokio::spawn(accept(
            listener,
            upstream,
            mode.subscribe(),
            Arc::clone(&connections),
        ))
        .abort_handle();
        Self {
            addr,
            mode,
            connections,
            accept,
        }
    }

    /// The PostgreSQL URL `url` with its host and port replaced by the proxy's.
    pub fn url(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).unwrap();
        url.set_host(Some(&self.addr.ip().to_string())).unwrap();
        url.set_port(Some(self.addr.port())).unwrap();
        url.to_string()
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Bytes stop flowing on every connection, old and new; nothing is closed.
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stall);
    }

    /// Bytes flow again (what was held is delivered) and new connections are accepted.
    pub fn pass(&self) {
        self.mode.send_replace(Mode::Pass);
    }

    /// Closes every open connection, as a database restart does.
    pub fn drop_connections(&self) {
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// The database is down: every connection closed, new ones closed at once.
    pub fn refuse(&self) {
        self.mode.send_replace(Mode::Refuse);
        self.drop_connections();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.drop_connections();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<Mode>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if *mode.borrow() == Mode::Refuse {
            drop(client);
            continue;
        }
        let mode = mode.clone();
        let task = tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (from_client, to_client) = client.into_split();
            let (from_server, to_server) = server.into_split();
            // Either direction ending (or failing) closes both.
            tokio::select! {
                () = pump(from_client, to_server, mode.clone()) => {}
                () = pump(from_server, to_client, mode) => {}
            }
        });
        let mut open = connections.lock().unwrap();
        open.retain(|c| !c.is_finished());
        open.push(task.abort_handle());
    }
}

/// Copies `from` to `to`, holding every chunk while the proxy is stalled.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if mode.wait_for(|m| *m != Mode::Stall).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // A chunk read just before a stall is held too.
        match mode.wait_for(|m| *m != Mode::Stall).await {
            Ok(m) if *m == Mode::Pass => {}
            _ => return,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
