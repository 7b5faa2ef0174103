//! The WebSub test subscriber (`tests/websub/subscriber.py`) as a child process, and the events
//! it reports (verifications and deliveries), each with the moment it was read.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::repo;

pub struct Subscriber {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
    events: mpsc::Receiver<(Instant, Value)>,
}

#[allow(dead_code)]
impl Subscriber {
    /// Starts the subscriber with its command-line `args` (e.g. `--secret`).
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new("python3")
            .arg(repo().join("tests/websub/subscriber.py"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the test subscriber");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let port = first.strip_prefix("listening ").unwrap().parse().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let event = (Instant::now(), serde_json::from_str(&line).unwrap());
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            _stdin: stdin,
            port,
            events,
        }
    }

    /// The callback URL for `path` on this subscriber.
    pub fn callback(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next event of `kind`, within `limit`.
    pub fn next(&self, kind: &str, limit: Duration) -> Option<Value> {
        self.next_at(kind, limit).map(|(_, event)| event)
    }

    /// The next event of `kind` and when it was read, within `limit`.
    pub fn next_at(&self, kind: &str, limit: Duration) -> Option<(Instant, Value)> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.events.recv_timeout(left) {
                Ok(event) if event.1["event"] == kind => return Some(event),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
