//! A real HTTP service on 127.0.0.1 for the async-node tests. It counts the requests in
//! flight (and the most ever in flight) and serves:
//!
//! - `GET /delay/<ms>/<id>`: waits `ms` milliseconds, answers `id`;
//! - `GET /flaky/<failures>/<id>`: answers 500 to the first `failures` requests for `id`;
//! - `GET /limited/<id>`: answers 429 with `Retry-After: 1` to the first request for `id`;
//! - `GET /fail/<id>`: always 500;
//! - `POST /echo`: answers the request body.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the service saw.
#[derive(Debug, Default)]
pub struct ServiceLog {
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    requests: AtomicUsize,
    attempts: Mutex<HashMap<String, usize>>,
    first_seen: Mutex<HashMap<String, Instant>>,
    answered: Mutex<HashMap<String, Instant>>,
}

impl ServiceLog {
    /// The most requests ever in flight at once.
    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight.load(Ordering::SeqCst)
    }

    /// All requests received.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Time from the first request for `path` to its last answer.
    pub fn time_to_answer(&self, path: &str) -> Option<Duration> {
        let first = *self.first_seen.lock().unwrap().get(path)?;
        let last = *self.answered.lock().unwrap().get(path)?;
        Some(last - first)
    }
}

/// Starts the service; returns its base URL and its log.
pub async fn start() -> (String, Arc<ServiceLog>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(ServiceLog::default());
    let shared = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, Arc::clone(&shared)));
        }
    });
    (base, log)
}

async fn read_request(socket: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    let header_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let read = socket.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        data.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&data[..header_end]).into_owned();
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while data.len() < header_end + length {
        let read = socket.read(&mut buffer).await.ok()?;
        if read == 0 {
            break;
        }
        data.extend_from_slice(&buffer[..read]);
    }
    let mut first = head.lines().next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    Some((method, path, data[header_end..].to_vec()))
}

async fn serve(mut socket: TcpStream, log: Arc<ServiceLog>) {
    let Some((method, path, body)) = read_request(&mut socket).await else {
        return;
    };
    log.requests.fetch_add(1, Ordering::SeqCst);
    log.first_seen
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_insert_with(Instant::now);
    let now = log.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    log.most_in_flight.fetch_max(now, Ordering::SeqCst);
    let attempt = {
        let mut attempts = log.attempts.lock().unwrap();
        let count = attempts.entry(path.clone()).or_insert(0);
        *count += 1;
        *count
    };
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (status, extra, answer) = match (method.as_str(), parts.as_slice()) {
        ("GET", ["delay", ms, id]) => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
            ("200 OK", "", id.to_string())
        }
        ("GET", ["flaky", failures, id]) if attempt <= failures.parse().unwrap_or(0) => {
            ("500 Internal Server Error", "", "try again".to_string())
        }
        ("GET", ["flaky", _, id]) => ("200 OK", "", id.to_string()),
        ("GET", ["limited", _]) if attempt == 1 => (
            "429 Too Many Requests",
            "retry-after: 1\r\n",
            "slow down".to_string(),
        ),
        ("GET", ["limited", id]) => ("200 OK", "", id.to_string()),
        ("GET", ["fail", _]) => ("500 Internal Server Error", "", "broken".to_string()),
        ("POST", ["echo"]) => ("200 OK", "", String::from_utf8_lossy(&body).into_owned()),
        _ => ("404 Not Found", "", "no such route".to_string()),
    };
    log.in_flight.fetch_sub(1, Ordering::SeqCst);
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
    log.answered.lock().unwrap().insert(path, Instant::now());
}
